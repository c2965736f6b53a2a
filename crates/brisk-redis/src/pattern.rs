//! Key names to key patterns: `user:123:profile` becomes `user:*:profile`.
//!
//! Applications build keys from a fixed prefix and variable parts (ids, hashes, tokens,
//! e-mail addresses) joined by a separator, most often `:`. Replacing each variable part by
//! `*` puts every key an application writes the same way into one group, which is what a
//! person wants to see ("the profile cache is 2 GiB") rather than a million single keys.

/// Characters that join the parts of a key, by convention (`:` is Redis's own).
const SEPARATORS: [char; 3] = [':', '/', '|'];

/// The pattern of `key`: each part that looks like a value becomes `*`.
///
/// ```
/// use brisk_redis::key_pattern;
/// assert_eq!(key_pattern(b"user:123:profile"), "user:*:profile");
/// assert_eq!(key_pattern(b"session:9f86d081884c7d65"), "session:*");
/// assert_eq!(key_pattern(b"cache:v2:page"), "cache:v2:page");
/// assert_eq!(key_pattern(b"item1234"), "item*");
/// ```
pub fn key_pattern(key: &[u8]) -> String {
    let key = String::from_utf8_lossy(key);
    let mut out = String::with_capacity(key.len());
    let mut part_start = 0;
    for (i, ch) in key.char_indices() {
        if SEPARATORS.contains(&ch) {
            push_part(&mut out, &key[part_start..i]);
            out.push(ch);
            part_start = i + ch.len_utf8();
        }
    }
    push_part(&mut out, &key[part_start..]);
    out
}

fn push_part(out: &mut String, part: &str) {
    // A word with a long number glued on (`item1234`, `page_20240101`): keep the word.
    let digits = part.len() - part.trim_end_matches(|c: char| c.is_ascii_digit()).len();
    let word = &part[..part.len() - digits];
    if digits >= 3
        && !word.is_empty()
        && word
            .chars()
            .all(|c| c.is_ascii_alphabetic() || c == '_' || c == '-')
    {
        out.push_str(word);
        out.push('*');
    } else if is_value(part) {
        out.push('*');
    } else {
        out.push_str(part);
    }
}

/// Whether a part of a key is a value rather than a name: a number, an e-mail address, or
/// a long token of letters and digits (hex digests, UUIDs, base64 session ids).
fn is_value(part: &str) -> bool {
    if part.is_empty() {
        return false;
    }
    let is_number = part
        .trim_start_matches('-')
        .chars()
        .all(|c| c.is_ascii_digit() || c == '.')
        && part.chars().any(|c| c.is_ascii_digit());
    if is_number || part.contains('@') {
        return true;
    }
    // 8 characters: the short git-style hash; shorter mixed words (`v2`, `utf8`) are names.
    part.len() >= 8
        && part.chars().any(|c| c.is_ascii_digit())
        && part
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '=' | '+'))
}

#[cfg(test)]
mod tests {
    use super::key_pattern;

    #[test]
    fn variable_parts_become_stars() {
        let cases: [(&[u8], &str); 10] = [
            (b"user:123:profile", "user:*:profile"),
            (b"user:alice@example.com:cart", "user:*:cart"),
            (b"session:2c1743a391305fbf367df8e4f069f9f9", "session:*"),
            (b"obj:123e4567-e89b-12d3-a456-426614174000", "obj:*"),
            (b"rate:-1.5", "rate:*"),
            (b"cache:v2:page:/blog/42", "cache:v2:page:/blog/*"),
            (b"leaderboard", "leaderboard"),
            (b"queue|jobs|7", "queue|jobs|*"),
            (b"page_20240101", "page_*"),
            (b"", ""),
        ];
        for (key, pattern) in cases {
            assert_eq!(
                key_pattern(key),
                pattern,
                "{}",
                String::from_utf8_lossy(key)
            );
        }
    }

    #[test]
    fn names_with_short_numbers_stay() {
        assert_eq!(key_pattern(b"api:v1:config"), "api:v1:config");
        assert_eq!(key_pattern(b"shard12:stats"), "shard12:stats");
        assert_eq!(key_pattern(b"translations:en-GB"), "translations:en-GB");
    }

    #[test]
    fn binary_keys_do_not_panic() {
        assert_eq!(key_pattern(&[0xff, 0xfe, b':', b'1']), "\u{fffd}\u{fffd}:*");
    }
}
