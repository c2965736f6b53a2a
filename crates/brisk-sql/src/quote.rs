//! Quoting identifiers for SQL that brisk writes (fixes, rewrites, index definitions).

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
    use super::{quote_ident, quote_literal, NOT_UNRESERVED};

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
