//! Key names to key patterns: `user:123:profile` becomes `user:*:profile`.
//!
//! Applications build keys from a fixed prefix and variable parts (ids, hashes, tokens,
//! e-mail addresses) joined by a separator, most often `:`. Replacing each variable part by
//! `*` puts every key an application writes the same way into one group, which is what a
//! person wants to see ("the profile cache is 2 GiB") rather than a million single keys.
//!
//! Two signals decide what is variable, as in log template mining (Drain, and its
//! predecessors that count token frequencies per position):
//!
//! - **the look of one part** ([`Shape::of`]): a number, a date, an IP or e-mail address, a
//!   UUID, a ULID, a long hex or base62 token is a value wherever it appears;
//! - **the cardinality of a position** ([`generalize`]): among keys that agree on every other
//!   position, a position that takes many id-like values (`b3f`, `fc01`, `page7`), or a great
//!   many words, is variable too. Short hex ids and nanoids without a digit look like words
//!   one by one; seen together, they are plainly one slot. Names that an application spells
//!   out by hand (`config:limits`, `config:flags`) are few, so they stay apart.

use std::collections::HashMap;

/// Characters that join the parts of a key, by convention (`:` is Redis's own).
const SEPARATORS: [char; 3] = [':', '/', '|'];

/// The separator of keys that use none of [`SEPARATORS`] (`app.cache.user.42`). Only then,
/// because inside a `:` key a dot belongs to a value (`10.1.2.3`, `alice@example.com`).
const DOT: char = '.';

/// Distinct id-like values (with a digit, hex, mixed-case tokens) that make a position
/// variable among keys that agree on every other position. Three (`v1`, `v2`, `v3`) is as
/// far as versions and shards spelled out by hand usually go; four such siblings are ids.
const ID_SIBLINGS: usize = 4;

/// Distinct plain words that make a position variable among keys that agree on every other
/// position: user names and slugs. 64 is well beyond the settings, features and namespaces
/// an application names by hand in one place (`config:limits`, `config:flags`).
const WORD_SIBLINGS: usize = 64;

/// Distinct id-like values after the same prefix that make the position variable even when
/// the keys differ elsewhere too (two unmasked ids in one key: `conv:b3f:msg:a1`). Higher
/// than [`ID_SIBLINGS`] because the keys need not share a suffix.
const ID_AFTER_PREFIX: usize = 16;

/// One part of a key between separators.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) enum Token {
    /// A name, kept as written.
    Name(String),
    /// A word with a long number glued on (`item1234`): the word, then `*`.
    NameThenValue(String),
    /// A value: `*`.
    Value,
}

impl Token {
    fn of(part: &str) -> Token {
        // A word with a long number glued on (`item1234`, `page_20240101`): keep the word.
        let digits = part.len() - part.trim_end_matches(|c: char| c.is_ascii_digit()).len();
        let word = &part[..part.len() - digits];
        if digits >= 3
            && !word.is_empty()
            && word
                .chars()
                .all(|c| c.is_ascii_alphabetic() || c == '_' || c == '-')
        {
            Token::NameThenValue(word.to_string())
        } else if is_value(part) {
            Token::Value
        } else {
            Token::Name(part.to_string())
        }
    }

    /// Whether this name could be an id that happens not to look like one on its own: a
    /// digit in it, short hex (`fc01`, `beef`), a mixed-case token (a nanoid without digits).
    fn is_id_like(&self) -> bool {
        match self {
            Token::Value => false,
            Token::NameThenValue(_) => true,
            Token::Name(s) => {
                let hex = s.len() >= 4
                    && (s.chars().all(|c| matches!(c, '0'..='9' | 'a'..='f'))
                        || s.chars().all(|c| matches!(c, '0'..='9' | 'A'..='F')));
                let mixed_case = s.len() >= 12
                    && s.chars().any(|c| c.is_ascii_lowercase())
                    && s.chars().any(|c| c.is_ascii_uppercase())
                    && s.chars()
                        .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
                hex || mixed_case || s.chars().any(|c| c.is_ascii_digit())
            }
        }
    }
}

/// A key as parts and the separators between them; also a pattern, once some parts are
/// [`Token::Value`].
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct Shape {
    pub tokens: Vec<Token>,
    /// `separators[i]` joins `tokens[i]` and `tokens[i + 1]`.
    pub separators: Vec<char>,
}

impl Shape {
    /// The shape of one key, by the look of each part.
    pub fn of(key: &[u8]) -> Shape {
        let key = String::from_utf8_lossy(key);
        let separators: &[char] = if key.contains(SEPARATORS) {
            &SEPARATORS
        } else {
            &[DOT]
        };
        let mut shape = Shape {
            tokens: Vec::new(),
            separators: Vec::new(),
        };
        let mut rest: &str = &key;
        loop {
            // An ISO 8601 time holds `:`; it is one value, not three parts.
            let iso = iso_datetime_len(rest).filter(|_| separators.contains(&':'));
            let len = iso.unwrap_or_else(|| rest.find(separators).unwrap_or(rest.len()));
            let (part, after) = rest.split_at(len);
            shape.tokens.push(match iso {
                Some(_) => Token::Value,
                None => Token::of(part),
            });
            let mut chars = after.chars();
            match chars.next() {
                Some(separator) => {
                    shape.separators.push(separator);
                    rest = chars.as_str();
                }
                None => break,
            }
        }
        shape
    }

    pub fn render(&self) -> String {
        let mut out = String::new();
        for (i, token) in self.tokens.iter().enumerate() {
            if i > 0 {
                out.push(self.separators[i - 1]);
            }
            match token {
                Token::Name(name) => out.push_str(name),
                Token::NameThenValue(word) => {
                    out.push_str(word);
                    out.push('*');
                }
                Token::Value => out.push('*'),
            }
        }
        out
    }
}

/// The pattern of `key` by the look of its parts alone: each part that looks like a value
/// becomes `*`. A scan also generalizes by cardinality ([`generalize`]), which needs the
/// other keys.
///
/// ```
/// use brisk_redis::key_pattern;
/// assert_eq!(key_pattern(b"user:123:profile"), "user:*:profile");
/// assert_eq!(key_pattern(b"session:9f86d081884c7d65"), "session:*");
/// assert_eq!(key_pattern(b"cache:v2:page"), "cache:v2:page");
/// assert_eq!(key_pattern(b"item1234"), "item*");
/// assert_eq!(key_pattern(b"ratelimit:ip:10.1.2.3"), "ratelimit:ip:*");
/// ```
pub fn key_pattern(key: &[u8]) -> String {
    Shape::of(key).render()
}

/// The length of the ISO 8601 date-time that `s` starts with (`2026-12-05T10:00:00.123Z`,
/// `2026-12-05 10:00+01:00`), if it starts with one that a separator or the end follows.
fn iso_datetime_len(s: &str) -> Option<usize> {
    let b = s.as_bytes();
    let digits = |from: usize, n: usize| {
        b.len() >= from + n && b[from..from + n].iter().all(u8::is_ascii_digit)
    };
    let byte = |at: usize, set: &[u8]| b.get(at).is_some_and(|c| set.contains(c));
    if !(digits(0, 4)
        && byte(4, b"-")
        && digits(5, 2)
        && byte(7, b"-")
        && digits(8, 2)
        && byte(10, b"T ")
        && digits(11, 2)
        && byte(13, b":")
        && digits(14, 2))
    {
        return None;
    }
    let mut len = 16;
    if byte(len, b":") && digits(len + 1, 2) {
        len += 3;
        if byte(len, b".") && digits(len + 1, 1) {
            len += 1;
            while digits(len, 1) {
                len += 1;
            }
        }
    }
    if byte(len, b"Z") {
        len += 1;
    } else if byte(len, b"+-") && digits(len + 1, 2) {
        len += 3;
        if byte(len, b":") && digits(len + 1, 2) {
            len += 3;
        } else if digits(len, 2) {
            len += 2;
        }
    }
    let ends = len == b.len() || SEPARATORS.iter().any(|&c| byte(len, &[c as u8]));
    ends.then_some(len)
}

/// Whether a part of a key is a value rather than a name: a number (and so an IPv4
/// address), an e-mail address, or a long token of letters and digits (hex digests, UUIDs,
/// ULIDs, dates, base64 and nanoid session ids).
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
    let token_chars = part
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '=' | '+'));
    // 8 characters: the short git-style hash; shorter mixed words (`v2`, `utf8`) are names.
    let with_digit = part.len() >= 8 && part.chars().any(|c| c.is_ascii_digit());
    // 16 mixed-case characters without a digit: a random token (a nanoid of 21 has no digit
    // one time in 30); camelCase names are shorter.
    let random_letters = part.len() >= 16
        && part.chars().any(|c| c.is_ascii_lowercase())
        && part.chars().any(|c| c.is_ascii_uppercase());
    token_chars && (with_digit || random_letters)
}

/// The generalization of each shape by cardinality: a position becomes `*` where, among the
/// shapes that agree on every other position, it takes [`ID_SIBLINGS`] id-like values or
/// [`WORD_SIBLINGS`] values of any kind, or one id-like value beside values already `*`; or
/// where it takes [`ID_AFTER_PREFIX`] id-like values after the same prefix. The first
/// position, the namespace, only by [`WORD_SIBLINGS`]. Repeated until
/// nothing changes, since one generalized position can make the keys agree elsewhere.
///
/// Only ever turns positions into `*`, so the result on a subset of keys generalizes no
/// more than the result on all of them: a scan may generalize as it goes.
pub(crate) fn generalize(shapes: &[Shape]) -> Vec<Shape> {
    let mut out = shapes.to_vec();
    let mut buckets: HashMap<&[char], Vec<usize>> = HashMap::new();
    for (i, shape) in shapes.iter().enumerate() {
        buckets.entry(&shape.separators).or_default().push(i);
    }
    loop {
        let mut changed = false;
        for members in buckets.values() {
            let width = shapes[members[0]].tokens.len();
            for at in 0..width {
                changed |= star_variable(&mut out, members, at, true);
                changed |= star_variable(&mut out, members, at, false);
            }
        }
        if !changed {
            return out;
        }
    }
}

/// Groups `members` by their context of position `at` (every other position when
/// `siblings`, else the positions before it) and turns `at` into `*` in each group whose
/// values there are variable. Returns whether anything changed.
fn star_variable(out: &mut [Shape], members: &[usize], at: usize, siblings: bool) -> bool {
    let mut contexts: HashMap<Vec<&Token>, Vec<usize>> = HashMap::new();
    for &m in members {
        let tokens = &out[m].tokens;
        let context: Vec<&Token> = if siblings {
            tokens[..at].iter().chain(&tokens[at + 1..]).collect()
        } else {
            tokens[..at].iter().collect()
        };
        contexts.entry(context).or_default().push(m);
    }
    let mut to_star = Vec::new();
    for group in contexts.values() {
        let mut names: Vec<&Token> = group
            .iter()
            .map(|&m| &out[m].tokens[at])
            .filter(|t| **t != Token::Value)
            .collect();
        if names.is_empty() {
            continue;
        }
        names.sort_unstable_by_key(|t| format!("{t:?}"));
        names.dedup();
        let has_value = group.iter().any(|&m| out[m].tokens[at] == Token::Value);
        let id_like = names.iter().filter(|t| t.is_id_like()).count();
        // The first part names the namespace (`s3:`, `oauth2:`, `v1:`), and a few with digits
        // are common: there, only many values of any kind make it variable.
        let variable = if at == 0 {
            siblings && names.len() >= WORD_SIBLINGS
        } else if siblings {
            id_like >= ID_SIBLINGS || names.len() >= WORD_SIBLINGS || (has_value && id_like >= 1)
        } else {
            id_like >= ID_AFTER_PREFIX
        };
        if variable {
            to_star.extend(group.iter().copied());
        }
    }
    let mut changed = false;
    for m in to_star {
        if out[m].tokens[at] != Token::Value {
            out[m].tokens[at] = Token::Value;
            changed = true;
        }
    }
    changed
}

/// Generalized patterns, for placing the keys a scan meets after it generalized: a trie per
/// separator sequence, where a [`Token::Value`] edge matches any part.
#[derive(Debug, Default)]
pub(crate) struct Templates {
    roots: HashMap<Vec<char>, TemplateNode>,
}

#[derive(Debug, Default)]
struct TemplateNode {
    names: HashMap<Token, TemplateNode>,
    value: Option<Box<TemplateNode>>,
    /// The pattern of the keys that end here: the template itself, or what a later
    /// generalization made of it.
    pattern: Option<Shape>,
}

impl TemplateNode {
    fn rename(&mut self, renamed: &HashMap<String, Shape>) {
        if let Some(pattern) = &self.pattern {
            if let Some(general) = renamed.get(&pattern.render()) {
                self.pattern = Some(general.clone());
            }
        }
        for child in self.names.values_mut() {
            child.rename(renamed);
        }
        if let Some(child) = self.value.as_deref_mut() {
            child.rename(renamed);
        }
    }
}

impl Templates {
    pub fn insert(&mut self, shape: &Shape) {
        let mut node = self.roots.entry(shape.separators.clone()).or_default();
        for token in &shape.tokens {
            node = match token {
                Token::Value => node.value.get_or_insert_with(Default::default),
                name => node.names.entry(name.clone()).or_default(),
            };
        }
        node.pattern = Some(shape.clone());
    }

    /// Points the templates whose pattern was generalized again (keyed by its old name) at
    /// the new pattern, so a key that fits an older template joins the group it became.
    pub fn rename(&mut self, renamed: &HashMap<String, Shape>) {
        for root in self.roots.values_mut() {
            root.rename(renamed);
        }
    }

    /// The pattern of the most specific template that `shape` fits (names before `*`, left
    /// to right).
    pub fn find(&self, shape: &Shape) -> Option<&Shape> {
        fn walk<'a>(node: &'a TemplateNode, tokens: &[Token]) -> Option<&'a Shape> {
            let Some((first, rest)) = tokens.split_first() else {
                return node.pattern.as_ref();
            };
            if *first != Token::Value {
                if let Some(found) = node.names.get(first).and_then(|n| walk(n, rest)) {
                    return Some(found);
                }
            }
            node.value.as_deref().and_then(|n| walk(n, rest))
        }
        walk(self.roots.get(&shape.separators)?, &shape.tokens)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn variable_parts_become_stars() {
        let cases: [(&[u8], &str); 16] = [
            (b"user:123:profile", "user:*:profile"),
            (b"user:alice@example.com:cart", "user:*:cart"),
            (b"session:2c1743a391305fbf367df8e4f069f9f9", "session:*"),
            (b"obj:123e4567-e89b-12d3-a456-426614174000", "obj:*"),
            (b"job:01ARZ3NDEKTSV4RRFFQ69G5FAV", "job:*"),
            (b"sess:V1StGXR8_Z5jdHi6B-myT", "sess:*"),
            (b"sess:VxStGXRq_ZkjdHimBNmyT", "sess:*"),
            (b"rate:-1.5", "rate:*"),
            (b"ratelimit:ip:10.1.2.3", "ratelimit:ip:*"),
            (b"stats:2026-12-05", "stats:*"),
            (b"ts:2026-12-05T10:00:00.123Z:hits", "ts:*:hits"),
            (b"cache:v2:page:/blog/42", "cache:v2:page:/blog/*"),
            (b"leaderboard", "leaderboard"),
            (b"queue|jobs|7", "queue|jobs|*"),
            (b"app.cache.user.42", "app.cache.user.*"),
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
        assert_eq!(key_pattern(b"page_20240101"), "page_*");
    }

    #[test]
    fn names_with_short_numbers_stay() {
        assert_eq!(key_pattern(b"api:v1:config"), "api:v1:config");
        assert_eq!(key_pattern(b"shard12:stats"), "shard12:stats");
        assert_eq!(key_pattern(b"translations:en-GB"), "translations:en-GB");
        assert_eq!(key_pattern(b"user:camelCaseName"), "user:camelCaseName");
    }

    #[test]
    fn binary_keys_do_not_panic() {
        assert_eq!(key_pattern(&[0xff, 0xfe, b':', b'1']), "\u{fffd}\u{fffd}:*");
        assert_eq!(iso_datetime_len("2026-12-05T1"), None);
    }

    #[test]
    fn iso_times_are_one_part() {
        assert_eq!(iso_datetime_len("2026-12-05T10:00:00Z:x"), Some(20));
        assert_eq!(iso_datetime_len("2026-12-05 10:00+01:00"), Some(22));
        assert_eq!(iso_datetime_len("2026-12-05T10:00:00.5+0100"), Some(26));
        assert_eq!(iso_datetime_len("2026-12-05T10:00x"), None);
    }

    #[test]
    fn templates_place_new_keys_most_specific_first_and_follow_renames() {
        let mut templates = Templates::default();
        templates.insert(&Shape::of(b"chat:conv:1234567890:history"));
        let mut config = Shape::of(b"chat:conv:limits:history");
        templates.insert(&config);
        let found = |t: &Templates, key: &Shape| t.find(key).map(Shape::render);
        let short_id = Shape::of(b"chat:conv:b3f:history");
        assert_eq!(
            found(&templates, &short_id).as_deref(),
            Some("chat:conv:*:history")
        );
        assert_eq!(
            found(&templates, &config).as_deref(),
            Some("chat:conv:limits:history")
        );
        // Generalized again: both templates now lead to the new pattern.
        let mut general = Shape::of(b"chat:x:*:history");
        general.tokens[1] = Token::Value;
        templates.rename(&HashMap::from([
            ("chat:conv:*:history".to_string(), general.clone()),
            ("chat:conv:limits:history".to_string(), general),
        ]));
        assert_eq!(
            found(&templates, &short_id).as_deref(),
            Some("chat:*:*:history")
        );
        assert_eq!(
            found(&templates, &config).as_deref(),
            Some("chat:*:*:history")
        );
        config.separators[0] = '/';
        assert_eq!(templates.find(&config), None);
        assert_eq!(templates.find(&Shape::of(b"chat:conv:b3f")), None);
    }
}
