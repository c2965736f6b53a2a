//! Inputs shared by the lexer and normalization tests: queries that pack every awkward rule
//! together, and generated text that no one would write by hand.

/// Every prefix of these is fed to the lexer and to normalization, to cover truncation at each
/// point of each kind of token.
pub const NASTY_QUERIES: &[&str] = &[
    "SELECT $1, E'it\\'s', 'a''b'\n'c', B'0101', X'1F', N'ñ', U&'d!0061t' UESCAPE '!' \
     /* outer /* inner */ still outer */ -- tail",
    "SELECT $fn$ don't $$ stop $fn$, $$x$$, $1::int, -5, a -5, 1.5E-3, .5, 0x1F, 0o17, 0b101, \
     1_000_000 FROM \"tä\"\"ble\" WHERE \"$2\" = '$3'",
    "UPDATE café SET 日本 = '東京' WHERE doc @> '{\"a\": 1}' AND doc #>> '{a,b}' != -1.5 \
     AND name ~~* 'ü%' AND x=-7 AND y !=-7 AND r = $é$ü$é$;",
    "INSERT INTO t (a, b) VALUES (-1, interval '1 day'), (1..2, '1'::int[]) RETURNING -a[1:2]",
];

/// Every prefix of `sql` that ends on a char boundary.
pub fn char_boundary_prefixes(sql: &str) -> impl Iterator<Item = &str> {
    (0..=sql.len()).filter_map(|end| sql.get(..end))
}

/// `count` deterministic pseudo-random strings, glued from fragments that open, close or
/// continue tokens. A hand-rolled xorshift keeps the crate free of a `rand` dependency.
pub fn random_sql(count: usize) -> impl Iterator<Item = String> {
    const FRAGMENTS: &[&str] = &[
        "'", "''", "\"", "$", "$$", "$a$", "$1", "E'", "U&", "N", "B", "X", "--", "/*", "*/", "\n",
        " ", "-", "+", "=", "<", "!", "@", "5", "0x", "_", ".", "e", "é", "日", "\\", "::", ":",
        "(", ")", "[", "]", ",", ";", "a", "SELECT", "UESCAPE",
    ];
    let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    (0..count).map(move |_| {
        let len = next() % 24;
        (0..len)
            .map(|_| FRAGMENTS[(next() % FRAGMENTS.len() as u64) as usize])
            .collect()
    })
}
