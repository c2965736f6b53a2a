//! Quoting identifiers and values, and naming indexes, for SQL that brisk writes (fixes,
//! rewrites, index definitions).

/// Quotes an identifier when PostgreSQL would need it quoted, as `quote_ident` does.
pub fn quote_ident(name: &str) -> String {
    let plain = name
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_lowercase() || c == '_')
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '$')
        && !is_reserved(name);
    if plain {
        name.to_string()
    } else {
        format!("\"{}\"", name.replace('"', "\"\""))
    }
}

/// PostgreSQL's limit on an identifier's length, in bytes (`NAMEDATALEN - 1`).
const MAX_IDENTIFIER: usize = 63;

/// The name of an index brisk proposes, from what it is: `parts` such as the table, the
/// columns and a suffix (`["users", "lower", "email", "idx"]` gives `users_lower_email_idx`).
/// The one naming rule of every command (`check`, `lint`, `advise`).
///
/// The name needs no quoting: lowercase ASCII letters, digits and single `_`. It fits
/// PostgreSQL's 63-byte limit; a longer one keeps its start and its last part, with a hash of
/// the whole between them, so two long names that share a start do not collide (PostgreSQL
/// itself would cut them to the same 63 bytes).
pub fn index_name(parts: &[&str]) -> String {
    let raw = parts.join("_").to_lowercase();
    let mut name = String::with_capacity(raw.len());
    for ch in raw.chars() {
        let ch = if ch.is_ascii_alphanumeric() { ch } else { '_' };
        if !(ch == '_' && (name.is_empty() || name.ends_with('_'))) {
            name.push(ch);
        }
    }
    while name.ends_with('_') {
        name.pop();
    }
    if name.is_empty() || name.starts_with(|c: char| c.is_ascii_digit()) {
        name.insert_str(0, "idx_");
    }
    if name.len() <= MAX_IDENTIFIER {
        return name;
    }
    // FNV-1a over the whole: stable across runs and platforms, so a re-run names alike.
    let hash = raw.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    });
    let last = parts
        .last()
        .map(|p| index_name(&[p]))
        .filter(|p| p.len() <= 16)
        .unwrap_or_default();
    let tail = format!(
        "_{:08x}{}{last}",
        hash as u32,
        if last.is_empty() { "" } else { "_" }
    );
    let start = name[..MAX_IDENTIFIER - tail.len()].trim_end_matches('_');
    format!("{start}{tail}")
}

/// `value` as a string literal that means the same whatever `standard_conforming_strings`
/// is: a value with a backslash is written as an escape string (`E'a\\b'`).
pub fn quote_literal(value: &str) -> String {
    let mut out = String::with_capacity(value.len() + 3);
    if value.contains('\\') {
        out.push('E');
    }
    out.push('\'');
    for ch in value.chars() {
        match ch {
            '\'' => out.push_str("''"),
            '\\' => out.push_str("\\\\"),
            _ => out.push(ch),
        }
    }
    out.push('\'');
    out
}

/// PostgreSQL's keywords that are not "unreserved" (its reserved, type/function-name and
/// column-name categories, PostgreSQL 17's `kwlist.h`), sorted. Like the
/// server's `quote_ident`, brisk quotes every one of them: quoting more than needed is always
/// valid SQL. An unreserved keyword, by contrast, may stand wherever an identifier may.
const NOT_UNRESERVED: &[&str] = &[
    "all",
    "analyse",
    "analyze",
    "and",
    "any",
    "array",
    "as",
    "asc",
    "asymmetric",
    "authorization",
    "between",
    "bigint",
    "binary",
    "bit",
    "boolean",
    "both",
    "case",
    "cast",
    "char",
    "character",
    "check",
    "coalesce",
    "collate",
    "collation",
    "column",
    "concurrently",
    "constraint",
    "create",
    "cross",
    "current_catalog",
    "current_date",
    "current_role",
    "current_schema",
    "current_time",
    "current_timestamp",
    "current_user",
    "dec",
    "decimal",
    "default",
    "deferrable",
    "desc",
    "distinct",
    "do",
    "else",
    "end",
    "except",
    "exists",
    "extract",
    "false",
    "fetch",
    "float",
    "for",
    "foreign",
    "freeze",
    "from",
    "full",
    "grant",
    "greatest",
    "group",
    "grouping",
    "having",
    "ilike",
    "in",
    "initially",
    "inner",
    "inout",
    "int",
    "integer",
    "intersect",
    "interval",
    "into",
    "is",
    "isnull",
    "join",
    "json",
    "json_array",
    "json_arrayagg",
    "json_exists",
    "json_object",
    "json_objectagg",
    "json_query",
    "json_scalar",
    "json_serialize",
    "json_table",
    "json_value",
    "lateral",
    "leading",
    "least",
    "left",
    "like",
    "limit",
    "localtime",
    "localtimestamp",
    "merge_action",
    "national",
    "natural",
    "nchar",
    "none",
    "normalize",
    "not",
    "notnull",
    "null",
    "nullif",
    "numeric",
    "offset",
    "on",
    "only",
    "or",
    "order",
    "out",
    "outer",
    "overlaps",
    "overlay",
    "placing",
    "position",
    "precision",
    "primary",
    "real",
    "references",
    "returning",
    "right",
    "row",
    "select",
    "session_user",
    "setof",
    "similar",
    "smallint",
    "some",
    "substring",
    "symmetric",
    "system_user",
    "table",
    "tablesample",
    "then",
    "time",
    "timestamp",
    "to",
    "trailing",
    "treat",
    "trim",
    "true",
    "union",
    "unique",
    "user",
    "using",
    "values",
    "varchar",
    "variadic",
    "verbose",
    "when",
    "where",
    "window",
    "with",
    "xmlattributes",
    "xmlconcat",
    "xmlelement",
    "xmlexists",
    "xmlforest",
    "xmlnamespaces",
    "xmlparse",
    "xmlpi",
    "xmlroot",
    "xmlserialize",
    "xmltable",
];

/// Whether `name` (lowercase) is one of PostgreSQL's keywords that cannot always stand as an
/// identifier.
///
/// Hot path (the fingerprint subset asks for every unquoted word): an open-addressing table
/// a third full, so most lookups end on an empty slot or a word of another length without
/// comparing bytes.
pub(crate) fn is_reserved(name: &str) -> bool {
    const SLOTS: usize = 512;
    static TABLE: std::sync::OnceLock<Vec<&'static str>> = std::sync::OnceLock::new();
    let table = TABLE.get_or_init(|| {
        let mut table = vec![""; SLOTS];
        for word in NOT_UNRESERVED {
            let mut slot = keyword_hash(word) % SLOTS;
            while !table[slot].is_empty() {
                slot = (slot + 1) % SLOTS;
            }
            table[slot] = word;
        }
        table
    });
    let mut slot = keyword_hash(name) % SLOTS;
    loop {
        match table[slot] {
            "" => return false,
            word if word == name => return true,
            _ => slot = (slot + 1) % SLOTS,
        }
    }
}

/// FNV-1a: short keys, no allocation.
fn keyword_hash(word: &str) -> usize {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in word.bytes() {
        hash = (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3);
    }
    hash as usize
}

#[cfg(test)]
mod tests {
    use super::{index_name, quote_ident, quote_literal, NOT_UNRESERVED};

    #[test]
    fn index_names_need_no_quoting_and_fit_postgresql() {
        assert_eq!(
            index_name(&["users", "lower", "email", "idx"]),
            "users_lower_email_idx"
        );
        assert_eq!(
            index_name(&["Order Items", "Café", "idx"]),
            "order_items_caf_idx"
        );
        assert_eq!(index_name(&["1st", "idx"]), "idx_1st_idx");
        let long_a = index_name(&[&"t".repeat(60), "column_with_a_long_name", "idx"]);
        let long_b = index_name(&[&"t".repeat(60), "column_with_another_name", "idx"]);
        for long in [&long_a, &long_b] {
            assert!(long.len() <= 63, "{long}");
            assert!(long.ends_with("_idx"), "{long}");
            assert_eq!(quote_ident(long), *long);
        }
        assert_ne!(long_a, long_b);
    }

    #[test]
    fn every_listed_keyword_and_no_other_word_is_reserved() {
        assert!(NOT_UNRESERVED.windows(2).all(|pair| pair[0] < pair[1]));
        assert_eq!(NOT_UNRESERVED.len(), 164);
        assert!(NOT_UNRESERVED.iter().all(|word| super::is_reserved(word)));
        for word in ["users", "name", "type", "", "selects", "fro", "x"] {
            assert!(!super::is_reserved(word), "{word}");
        }
    }

    #[test]
    fn quotes_only_when_needed() {
        assert_eq!(quote_ident("messages"), "messages");
        assert_eq!(quote_ident("Messages"), "\"Messages\"");
        assert_eq!(quote_ident("user"), "\"user\"");
        assert_eq!(quote_ident("my table"), "\"my table\"");
        assert_eq!(quote_ident("a\"b"), "\"a\"\"b\"");
        assert_eq!(quote_ident("1abc"), "\"1abc\"");
        assert_eq!(quote_ident("left"), "\"left\"");
        assert_eq!(quote_ident("timestamp"), "\"timestamp\"");
        assert_eq!(quote_ident("name"), "name");
    }

    #[test]
    fn literals_mean_the_same_whatever_standard_conforming_strings_is() {
        assert_eq!(quote_literal("UTC"), "'UTC'");
        assert_eq!(quote_literal("it's"), "'it''s'");
        assert_eq!(quote_literal(r"C:\tmp"), r"E'C:\\tmp'");
        assert_eq!(quote_literal(""), "''");
    }
}
