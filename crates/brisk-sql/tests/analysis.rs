//! `analyze` over the SQL corpus (`tests/corpus/*.sql`): every statement analyzes, and a
//! representative subset from every file gives exactly the extraction written out below.
//!
//! Each expectation is the analysis rendered by [`describe`], one fact per line, so that a
//! difference reads as a diff. Empty lists print nothing: the whole text is compared, so a
//! missing line asserts an empty list. In the table lines, `(or)` marks a predicate under `OR`,
//! and an expression reads `text operator [function; columns]`.

use std::fmt::Write as _;
use std::path::Path;

use brisk_sql::{
    analyze, ArrayOperator, Bound, NullTest, NullsOrder, OutputColumn, PatternKind, SortDirection,
    StatementAnalysis, TableName,
};

/// Every corpus file, as `(name, text)`, in name order.
fn corpus() -> Vec<(String, String)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/corpus");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .expect("corpus directory")
        .map(|entry| entry.expect("corpus entry").path())
        .filter(|path| path.extension().is_some_and(|e| e == "sql"))
        .collect();
    files.sort();
    files
        .into_iter()
        .map(|path| {
            let name = path
                .file_name()
                .expect("file name")
                .to_string_lossy()
                .into_owned();
            let text = std::fs::read_to_string(&path).expect("corpus file");
            (name, text)
        })
        .collect()
}

/// One corpus statement: the `--` comment line right before it, and its text.
struct Statement {
    comment: String,
    sql: String,
}

/// The statements of a corpus file, split with PostgreSQL's parser, as the corpus README asks.
fn statements(text: &str) -> Vec<Statement> {
    pg_query::split_with_parser(text)
        .expect("corpus files split")
        .into_iter()
        .map(|piece| {
            let lines: Vec<&str> = piece.lines().collect();
            let first_sql = lines
                .iter()
                .position(|line| !line.trim().is_empty() && !line.trim_start().starts_with("--"))
                .unwrap_or(lines.len());
            let comment = lines[..first_sql]
                .iter()
                .rev()
                .find(|line| line.trim_start().starts_with("--"))
                .map_or("", |line| line.trim_start().trim_start_matches("--").trim());
            Statement {
                comment: comment.to_string(),
                sql: lines[first_sql..].join("\n"),
            }
        })
        .collect()
}

#[test]
fn every_corpus_statement_analyzes() {
    let mut count = 0;
    for (file, text) in corpus() {
        for statement in statements(&text) {
            let analysis = analyze(&statement.sql)
                .unwrap_or_else(|e| panic!("{file}: {}: {e}", statement.comment));
            assert_eq!(analysis.len(), 1, "{file}: {}", statement.comment);
            count += 1;
        }
    }
    // The corpus README promises at least 300 query shapes.
    assert!(count >= 300, "only {count} corpus statements");
}

#[test]
fn corpus_statements_are_analyzed_together_as_they_are_alone() {
    for (file, text) in corpus() {
        let together = analyze(&text).unwrap_or_else(|e| panic!("{file}: {e}"));
        let alone: Vec<StatementAnalysis> = statements(&text)
            .iter()
            .flat_map(|s| analyze(&s.sql).expect("analyzes"))
            .collect();
        assert_eq!(together, alone, "{file}");
    }
}

/// The one statement of corpus `file` whose comment contains `key`, or else whose text does.
fn find(file: &str, key: &str) -> Statement {
    let (_, text) = corpus()
        .into_iter()
        .find(|(name, _)| name == file)
        .unwrap_or_else(|| panic!("no corpus file {file}"));
    let all = statements(&text);
    let by_comment: Vec<&Statement> = all.iter().filter(|s| s.comment.contains(key)).collect();
    let matches = if by_comment.is_empty() {
        all.iter().filter(|s| s.sql.contains(key)).collect()
    } else {
        by_comment
    };
    match matches.as_slice() {
        [one] => Statement {
            comment: one.comment.clone(),
            sql: one.sql.clone(),
        },
        other => panic!("{} statements of {file} match {key:?}", other.len()),
    }
}

/// Asserts that the corpus statement `key` of `file` analyzes to `expected`, written
/// indented like the code around it.
fn check(file: &str, key: &str, expected: &str) {
    let statement = find(file, key);
    let analysis = analyze(&statement.sql).expect("corpus statements parse");
    let [analysis] = analysis.as_slice() else {
        panic!("{file}: {key}: {} statements", analysis.len());
    };
    let actual = describe(analysis);
    let expected = unindent(expected);
    assert!(
        actual == expected,
        "{file}: {key}\n{}\n--- expected\n{expected}--- actual\n{actual}",
        statement.sql
    );
}

/// `text` without its first newline and without the indentation of its first line.
fn unindent(text: &str) -> String {
    let text = text.strip_prefix('\n').unwrap_or(text);
    let indent = text.len() - text.trim_start_matches(' ').len();
    text.lines()
        .map(|line| line.get(indent..).unwrap_or(line.trim_start()))
        .filter(|line| !line.is_empty())
        .map(|line| format!("{line}\n"))
        .collect()
}

/// The analysis as text, one fact per line.
fn describe(analysis: &StatementAnalysis) -> String {
    let mut out = String::new();
    let names = |tables: &[TableName]| {
        tables
            .iter()
            .map(|t| t.to_string())
            .collect::<Vec<_>>()
            .join(", ")
    };
    let or = |under_or: bool| if under_or { " (or)" } else { "" };
    writeln!(out, "kind: {:?}", analysis.kind).unwrap();
    if !analysis.reads.is_empty() {
        writeln!(out, "reads: {}", names(&analysis.reads)).unwrap();
    }
    if !analysis.writes.is_empty() {
        writeln!(out, "writes: {}", names(&analysis.writes)).unwrap();
    }
    if analysis.cacheable {
        writeln!(out, "cacheable").unwrap();
    } else {
        let reasons: Vec<String> = analysis
            .not_cacheable
            .iter()
            .map(|r| format!("{r:?}"))
            .collect();
        writeln!(out, "not cacheable: {}", reasons.join(", ")).unwrap();
    }
    let bound = |bound: &Bound| match bound {
        Bound::Constant(n) => n.to_string(),
        Bound::Parameter(n) => format!("${n}"),
        Bound::Other => "other".to_string(),
    };
    if let Some(limit) = &analysis.limit {
        writeln!(out, "limit: {}", bound(limit)).unwrap();
    }
    if let Some(offset) = &analysis.offset {
        writeln!(out, "offset: {}", bound(offset)).unwrap();
    }
    for usage in &analysis.tables {
        match &usage.alias {
            Some(alias) => writeln!(out, "table {} {alias}", usage.table).unwrap(),
            None => writeln!(out, "table {}", usage.table).unwrap(),
        }
        let mut line = |label: &str, items: Vec<String>| {
            if !items.is_empty() {
                writeln!(out, "  {label}: {}", items.join(", ")).unwrap();
            }
        };
        line(
            "equality",
            usage
                .equality
                .iter()
                .map(|p| format!("{}{}", p.column, or(p.under_or)))
                .collect(),
        );
        line(
            "range",
            usage
                .range
                .iter()
                .map(|p| format!("{}{}", p.column, or(p.under_or)))
                .collect(),
        );
        line(
            "null",
            usage
                .null_tests
                .iter()
                .map(|p| {
                    let test = match p.test {
                        NullTest::IsNull => "IS NULL",
                        NullTest::IsNotNull => "IS NOT NULL",
                    };
                    format!("{} {test}{}", p.column, or(p.under_or))
                })
                .collect(),
        );
        line(
            "like",
            usage
                .like
                .iter()
                .map(|p| {
                    let operator = if p.case_insensitive { "ILIKE" } else { "LIKE" };
                    let pattern = match p.pattern {
                        PatternKind::Prefix => "prefix",
                        PatternKind::LeadingWildcard => "leading wildcard",
                        PatternKind::Exact => "exact",
                        PatternKind::Unknown => "unknown",
                    };
                    format!("{} {operator} {pattern}{}", p.column, or(p.under_or))
                })
                .collect(),
        );
        line(
            "full text",
            usage
                .full_text
                .iter()
                .map(|p| {
                    format!(
                        "{} [{}]{}",
                        p.expression,
                        p.columns.join(" "),
                        or(p.under_or)
                    )
                })
                .collect(),
        );
        line(
            "array",
            usage
                .array
                .iter()
                .map(|p| {
                    let operator = match p.operator {
                        ArrayOperator::Contains => "@>",
                        ArrayOperator::ContainedBy => "<@",
                        ArrayOperator::Overlaps => "&&",
                    };
                    format!("{} {operator}{}", p.column, or(p.under_or))
                })
                .collect(),
        );
        line(
            "expression",
            usage
                .expressions
                .iter()
                .map(|p| {
                    format!(
                        "{} {} [{}; {}]{}",
                        p.expression,
                        p.operator,
                        p.function.as_deref().unwrap_or("-"),
                        p.columns.join(" "),
                        or(p.under_or)
                    )
                })
                .collect(),
        );
        line(
            "join",
            usage
                .joins
                .iter()
                .map(|p| {
                    format!(
                        "{} = {}.{}{}",
                        p.column,
                        p.other_table,
                        p.other_column,
                        or(p.under_or)
                    )
                })
                .collect(),
        );
        line(
            "order by",
            usage
                .order_by
                .iter()
                .map(|o| {
                    let direction = match o.direction {
                        SortDirection::Asc => "ASC",
                        SortDirection::Desc => "DESC",
                    };
                    let nulls = match o.nulls {
                        NullsOrder::Default => "",
                        NullsOrder::First => " NULLS FIRST",
                        NullsOrder::Last => " NULLS LAST",
                    };
                    format!("{} {direction}{nulls}", o.column)
                })
                .collect(),
        );
        line("group by", usage.group_by.clone());
        line(
            "outputs",
            usage
                .outputs
                .iter()
                .map(|o| match o {
                    OutputColumn::Column(c) => c.clone(),
                    OutputColumn::AllColumns => "*".to_string(),
                })
                .collect(),
        );
        line(
            "constants",
            usage
                .constants
                .iter()
                .map(|c| format!("{c}{}", or(c.under_or)))
                .collect(),
        );
    }
    if !analysis.unresolved.is_empty() {
        let unresolved: Vec<String> = analysis
            .unresolved
            .iter()
            .map(|u| format!("{} ({:?})", u.column, u.usage))
            .collect();
        writeln!(out, "unresolved: {}", unresolved.join(", ")).unwrap();
    }
    out
}

#[test]
fn django() {
    check(
        "django.sql",
        "Conversation.objects.filter(user_id=..., is_archived=False).order_by('-updated_at')[:20]",
        r"
        kind: Select
        reads: chat_conversation
        cacheable
        limit: 20
        table chat_conversation
          equality: is_archived, user_id
          order by: updated_at DESC
          outputs: id, uuid, user_id, title, is_archived, is_pinned, created_at, updated_at
          constants: is_archived = false, user_id = 1842
        ",
    );
    // Django's icontains wraps both sides in UPPER(): an expression predicate, which a
    // B-tree on title cannot serve.
    check(
        "django.sql",
        "title__icontains='budget'",
        r"
        kind: Select
        reads: chat_conversation
        cacheable
        table chat_conversation
          equality: user_id
          expression: upper(title::text) LIKE [upper; title]
          order by: updated_at DESC
          outputs: id, uuid, user_id, title, is_archived, is_pinned, created_at, updated_at
          constants: user_id = 1842
        ",
    );
    check(
        "django.sql",
        "select_related('conversation').filter(conversation__user_id=...)[:20]",
        r"
        kind: Select
        reads: chat_message, chat_conversation
        cacheable
        limit: 20
        table chat_message
          join: conversation_id = chat_conversation.id
          order by: created_at DESC
          outputs: id, conversation_id, role, content, sequence_number, is_edited, created_at
        table chat_conversation
          equality: user_id
          join: id = chat_message.conversation_id
          outputs: id, uuid, user_id, title, is_archived, is_pinned, created_at, updated_at
          constants: user_id = 1842
        ",
    );
    // The correlated reference inside EXISTS joins to the outer table; EXISTS outputs nothing.
    check(
        "django.sql",
        "Exists(Message.objects.filter(conversation=OuterRef('pk')",
        r"
        kind: Select
        reads: chat_conversation, chat_message
        cacheable
        table chat_conversation
          equality: user_id
          join: id = chat_message.conversation_id
          order by: updated_at DESC
          outputs: id, title
          constants: user_id = 1842
        table chat_message u0
          null: read_at IS NULL
          join: conversation_id = chat_conversation.id
          constants: read_at IS NULL
        ",
    );
    // `GROUP BY 1` is the first output, a column; `ORDER BY 4` is an aggregate.
    check(
        "django.sql",
        "GROUP BY collapsed to the pk",
        r"
        kind: Select
        reads: chat_conversation, chat_message
        cacheable
        table chat_conversation
          equality: user_id
          join: id = chat_message.conversation_id
          group by: id
          outputs: id, title, updated_at
          constants: user_id = 1842
        table chat_message
          join: conversation_id = chat_conversation.id
          outputs: id
        ",
    );
    check(
        "django.sql",
        "SearchVector('content')",
        r"
        kind: Select
        reads: chat_message
        cacheable
        table chat_message
          full text: to_tsvector(COALESCE(content::text, '')) [content]
          outputs: id, content
        ",
    );
    check(
        "django.sql",
        "select_for_update(skip_locked=True)",
        r"
        kind: Select
        reads: chat_job
        not cacheable: RowLock(Update)
        limit: 10
        table chat_job
          equality: status
          order by: run_at ASC
          outputs: id, kind, payload, run_at
          constants: status = 'queued'
        ",
    );
    check(
        "django.sql",
        "Q(email__iexact=s) | Q(username__iexact=s)",
        r"
        kind: Select
        reads: auth_user
        cacheable
        limit: 1
        table auth_user
          expression: upper(email::text) = [upper; email] (or), upper(username::text) = [upper; username] (or)
          order by: id ASC
          outputs: id, username, email, is_active
        ",
    );
    // Nothing under NOT is a predicate the rows returned satisfy.
    check(
        "django.sql",
        "exclude(title__startswith='Draft')",
        r"
        kind: Select
        reads: chat_conversation
        cacheable
        table chat_conversation
          null: deleted_at IS NULL
          outputs: id, title
          constants: deleted_at IS NULL
        ",
    );
    // The outer `rn` is the subquery's window function: no table's column.
    check(
        "django.sql",
        "QUALIFY emulation",
        r"
        kind: Select
        reads: chat_message
        cacheable
        table chat_message
          equality: conversation_id
          outputs: id, conversation_id, content, created_at
          constants: conversation_id IN (90311, 90307)
        ",
    );
    check(
        "django.sql",
        "Paginator(Message.objects",
        r"
        kind: Select
        reads: chat_message
        cacheable
        limit: 50
        offset: 100
        table chat_message
          equality: conversation_id
          order by: created_at DESC
          outputs: id, conversation_id, role, content, sequence_number, is_edited, created_at
          constants: conversation_id = 90311
        ",
    );
}

#[test]
fn sqlalchemy() {
    // The join goes through the CTE's output to the grouped messages column.
    check(
        "sqlalchemy.sql",
        "CTE  recent = select(...)",
        r"
        kind: Select
        reads: messages, conversations
        cacheable
        limit: $2
        table messages
          range: timestamp
          join: conversation_id = conversations.id
          group by: conversation_id
          outputs: conversation_id, timestamp
        table conversations
          join: id = messages.conversation_id
          outputs: id, title
        ",
    );
    // Each arm of the recursive CTE is a reference of its own; the outer query reads
    // only the CTE, whose UNION columns belong to no single table.
    check(
        "sqlalchemy.sql",
        "recursive CTE (select(...).cte(recursive=True))",
        r"
        kind: Select
        reads: entities
        cacheable
        table entities
          equality: id
          outputs: id, parent_id
          constants: id = 42
        table entities
          equality: parent_id
          outputs: id, parent_id
        ",
    );
    check(
        "sqlalchemy.sql",
        "with_for_update(of=Reminder, nowait=True) over a join",
        r"
        kind: Select
        reads: reminders, users
        not cacheable: RowLock(Update)
        table reminders
          equality: active
          range: next_execution
          join: user_id = users.id
          outputs: id, user_id, next_execution
          constants: active = true, next_execution <= '2024-11-05 09:00:00'
        table users
          join: id = reminders.user_id
          outputs: telegram_id
        ",
    );
    check(
        "sqlalchemy.sql",
        "Conversation.title.icontains(q)",
        r"
        kind: Select
        reads: conversations
        cacheable
        table conversations
          expression: lower(title) LIKE [lower; title]
          outputs: id, title
        ",
    );
    // The LATERAL subquery's LIMIT is not the statement's.
    check(
        "sqlalchemy.sql",
        "lateral subquery join",
        r"
        kind: Select
        reads: users, conversations
        cacheable
        table users
          equality: is_active
          join: id = conversations.user_id
          outputs: id
          constants: is_active = true
        table conversations
          join: user_id = users.id
          order by: updated_at DESC
          outputs: id, title
        ",
    );
    check(
        "sqlalchemy.sql",
        "insertmanyvalues batch with sort_by_parameter_order",
        r"
        kind: Insert
        writes: citations
        not cacheable: NotASelect
        table citations
          outputs: id
        ",
    );
    // LIMIT belongs to the UNION; its ORDER BY names the union's output, no table's.
    check(
        "sqlalchemy.sql",
        "union_all of two selects",
        r"
        kind: Select
        reads: matched_posts, ai_responses
        cacheable
        limit: 25
        table matched_posts
          equality: client_id
          outputs: id, created_at
          constants: client_id = 3
        table ai_responses
          equality: client_id
          outputs: id, created_at
          constants: client_id = 3
        ",
    );
    check(
        "sqlalchemy.sql",
        "group_by with func.count and having",
        r"
        kind: Select
        reads: analytics_events
        cacheable
        table analytics_events
          equality: client_id
          range: created_at
          group by: event_type
          outputs: event_type, id
          constants: client_id = 3, created_at >= '2024-10-06T00:00:00'::timestamp
        ",
    );
}

#[test]
fn activerecord() {
    check(
        "activerecord.sql",
        "User.find(params[:id])",
        r"
        kind: Select
        reads: users
        cacheable
        limit: $2
        table users
          equality: id
          outputs: *
        ",
    );
    check(
        "activerecord.sql",
        "Post.includes(:comments)",
        r"
        kind: Select
        reads: comments
        cacheable
        table comments
          equality: post_id
          outputs: *
        ",
    );
    check(
        "activerecord.sql",
        "Post.where(\"title ILIKE ?\"",
        r"
        kind: Select
        reads: posts
        cacheable
        limit: $1
        table posts
          like: title ILIKE leading wildcard
          order by: created_at DESC
          outputs: *
        ",
    );
    check(
        "activerecord.sql",
        "Tag.upsert_all",
        r#"
        kind: Insert
        writes: tags
        not cacheable: NotASelect, VolatileFunction("current_timestamp")
        table tags
          outputs: id
        "#,
    );
    // `oid` and `rngtypid` are unqualified with two tables in scope.
    check(
        "activerecord.sql",
        "load_additional_types",
        r"
        kind: Select
        reads: pg_type, pg_range
        cacheable
        table pg_type t
          equality: typname (or), typtype (or), typinput (or)
          outputs: oid, typname, typelem, typdelim, typinput, typtype, typbasetype
          constants: typname IN ('int2', 'int4', 'int8', 'oid', 'float4', 'float8', 'text', 'varchar', 'char', 'name', 'bpchar', 'bool', 'bit', 'varbit', 'date', 'money', 'bytea', 'point', 'hstore', 'json', 'jsonb', 'cidr', 'inet', 'uuid', 'xml', 'tsvector', 'macaddr', 'citext', 'ltree', 'line', 'lseg', 'box', 'path', 'polygon', 'circle', 'numeric', 'interval', 'time', 'timestamp', 'timestamptz') (or), typtype IN ('r', 'e', 'd') (or), typinput = 'array_in(cstring)'::regprocedure (or), typelem <> 0 (or)
        table pg_range r
          outputs: rngsubtype
        unresolved: oid (Join), rngtypid (Join)
        ",
    );
    check(
        "activerecord.sql",
        "User.where(id: Membership.where",
        r"
        kind: Select
        reads: users, memberships
        cacheable
        table users
          equality: id
          outputs: *
        table memberships
          equality: team_id
          outputs: user_id
        ",
    );
}

#[test]
fn prisma() {
    check(
        "prisma.sql",
        "prisma.user.findUnique({ where: { email } })",
        r"
        kind: Select
        reads: public.User
        cacheable
        limit: $2
        offset: $3
        table public.User
          equality: email
          outputs: id, email, name, role, createdAt, updatedAt
        ",
    );
    check(
        "prisma.sql",
        "relation filter as IN subselect",
        r"
        kind: Select
        reads: public.User, public.Post
        cacheable
        offset: $2
        table public.User
          equality: id
          outputs: id, email
        table public.Post t1
          equality: published
          null: authorId IS NOT NULL
          outputs: authorId
          constants: authorId IS NOT NULL
        ",
    );
    // Two references to one table: the subquery's column maps back through its alias.
    check(
        "prisma.sql",
        "cursor: { id }, skip: 1",
        r"
        kind: Select
        reads: public.Post
        cacheable
        limit: $2
        offset: $3
        table public.Post
          range: id
          order by: id ASC
          outputs: id, title
        table public.Post
          equality: id
          range: id
          outputs: id
        ",
    );
    check(
        "prisma.sql",
        "_count: { select: { posts: true } }",
        r"
        kind: Select
        reads: public.User, public.Post
        cacheable
        offset: $1
        table public.User
          join: id = public.Post.authorId
          outputs: id, email
        table public.Post
          join: authorId = public.User.id
          group by: authorId
          outputs: authorId
        ",
    );
    // Four levels of subqueries: `t3` passes `t2`'s columns through its `*`, and the
    // correlated `t1.id = t2.authorId` sits three levels down.
    check(
        "prisma.sql",
        "relationJoins preview",
        r"
        kind: Select
        reads: public.User, public.Post
        cacheable
        limit: $3
        table public.User t1
          equality: id
          join: id = public.Post.authorId
          outputs: id, email, name
        table public.Post t2
          join: authorId = public.User.id
          order by: createdAt DESC
          outputs: *, id, title, createdAt
        ",
    );
    check(
        "prisma.sql",
        "mode: 'insensitive' } } }) (bound",
        r"
        kind: Select
        reads: public.User
        cacheable
        offset: $2
        table public.User
          like: name ILIKE unknown
          outputs: id, email, name
        ",
    );
}

#[test]
fn sqlx() {
    check(
        "sqlx.sql",
        "WHERE id = ANY($1), &ids[..]",
        r"
        kind: Select
        reads: users
        cacheable
        table users
          equality: id
          outputs: id, email, display_name, created_at
        ",
    );
    check(
        "sqlx.sql",
        "keyset pagination with a row-value comparison",
        r"
        kind: Select
        reads: documents
        cacheable
        limit: $4
        table documents
          equality: owner_id
          range: created_at, id
          order by: created_at DESC, id DESC
          outputs: id, title, created_at
        ",
    );
    // The subquery's unqualified columns could be the outer `jobs`' too, but that is the
    // same table, so PostgreSQL finds them in the inner one.
    check(
        "sqlx.sql",
        "job queue dequeue, one job, SKIP LOCKED",
        r#"
        kind: Update
        reads: jobs
        writes: jobs
        not cacheable: NotASelect, VolatileFunction("now"), RowLock(Update)
        table jobs
          equality: id
          outputs: id, queue, payload, attempts
        table jobs
          equality: queue, status
          range: run_at
          order by: priority DESC, run_at ASC
          outputs: id
          constants: status = 'queued'
        "#,
    );
    // The CTE locks rows; the join goes through the CTE's column to its table.
    check(
        "sqlx.sql",
        "job queue dequeue, batch via CTE",
        r#"
        kind: Update
        reads: jobs
        writes: jobs
        not cacheable: NotASelect, VolatileFunction("now"), RowLock(Update)
        table jobs
          equality: status
          range: run_at
          join: id = jobs.id
          order by: run_at ASC
          outputs: id
          constants: status = 'queued'
        table jobs j
          join: id = jobs.id
          outputs: id, payload
        "#,
    );
    // `u.id` is a column of the UNNEST function, a value for the index on documents.id.
    check(
        "sqlx.sql",
        "bulk update via UNNEST join",
        r#"
        kind: Update
        writes: documents
        not cacheable: NotASelect, VolatileFunction("now")
        table documents d
          equality: id
        "#,
    );
    check(
        "sqlx.sql",
        "copy_out_raw export",
        r"
        kind: Utility
        reads: users
        not cacheable: NotASelect
        table users
          range: created_at
          outputs: id, email, created_at
          constants: created_at >= '2024-01-01'
        ",
    );
}

#[test]
fn pgbench() {
    check(
        "pgbench.sql",
        "(negative delta)",
        r"
        kind: Update
        writes: pgbench_accounts
        not cacheable: NotASelect
        table pgbench_accounts
          equality: aid
          constants: aid = 38475
        ",
    );
    check(
        "pgbench.sql",
        "-M extended: :aid -> $1",
        r"
        kind: Select
        reads: pgbench_accounts
        cacheable
        table pgbench_accounts
          equality: aid
          outputs: abalance
        ",
    );
    // `o.n` is a LATERAL function's column; `GROUP BY 1, 2` resolves positions.
    check(
        "pgbench.sql",
        "partitioning detection for pgbench_accounts",
        r#"
        kind: Select
        reads: pg_catalog.pg_class, pg_catalog.pg_namespace, pg_catalog.pg_partitioned_table, pg_catalog.pg_inherits
        not cacheable: VolatileFunction("current_schemas")
        limit: 1
        table pg_catalog.pg_class c
          equality: relname
          join: relnamespace = pg_catalog.pg_namespace.oid, oid = pg_catalog.pg_partitioned_table.partrelid, oid = pg_catalog.pg_inherits.inhparent
          constants: relname = 'pgbench_accounts'
        table pg_catalog.pg_namespace n
          join: oid = pg_catalog.pg_class.relnamespace
          outputs: nspname
        table pg_catalog.pg_partitioned_table p
          join: partrelid = pg_catalog.pg_class.oid
          group by: partstrat
          outputs: partstrat
        table pg_catalog.pg_inherits i
          join: inhparent = pg_catalog.pg_class.oid
          outputs: inhparent
        "#,
    );
    check(
        "pgbench.sql",
        "pgbench -i: drop existing tables",
        r"
        kind: Ddl
        writes: pgbench_accounts, pgbench_branches, pgbench_history, pgbench_tellers
        not cacheable: NotASelect
        ",
    );
}

#[test]
fn tpch() {
    // One table in scope: unqualified columns are its own.
    check(
        "tpch.sql",
        "TPC-H Q1 ",
        r"
        kind: Select
        reads: lineitem
        cacheable
        table lineitem
          range: l_shipdate
          order by: l_returnflag ASC, l_linestatus ASC
          group by: l_returnflag, l_linestatus
          outputs: l_returnflag, l_linestatus, l_quantity, l_extendedprice, l_discount, l_tax
        ",
    );
    // Six tables and unqualified columns: nothing can be tied to a table without the catalog.
    check(
        "tpch.sql",
        "TPC-H Q5 ",
        r"
        kind: Select
        reads: customer, orders, lineitem, supplier, nation, region
        cacheable
        table customer
        table orders
        table lineitem
        table supplier
        table nation
        table region
        unresolved: c_custkey (Join), o_custkey (Join), l_orderkey (Join), o_orderkey (Join), l_suppkey (Join), s_suppkey (Join), c_nationkey (Join), s_nationkey (Join), n_nationkey (Join), n_regionkey (Join), r_regionkey (Join), r_name (Equality), o_orderdate (Range), n_name (Output), l_extendedprice (Output), l_discount (Output), n_name (GroupBy)
        ",
    );
    // The CTE's column list decides `supplier_no` and `total_revenue`, which leaves
    // `supplier` as the only table that can have `s_suppkey`.
    check(
        "tpch.sql",
        "TPC-H Q15 ",
        r"
        kind: Select
        reads: lineitem, supplier
        cacheable
        table lineitem
          range: l_shipdate
          join: l_suppkey = supplier.s_suppkey
          group by: l_suppkey
          outputs: l_suppkey, l_extendedprice, l_discount
          constants: l_shipdate >= '1996-01-01'::date
        table supplier
          join: s_suppkey = lineitem.l_suppkey
          order by: s_suppkey ASC
          outputs: s_suppkey, s_name, s_address, s_phone
        ",
    );
    // The subquery's `l_partkey = p_partkey` could reference either `lineitem`, or `part`.
    check(
        "tpch.sql",
        "TPC-H Q17 ",
        r"
        kind: Select
        reads: lineitem, part
        cacheable
        table lineitem
        table part
        table lineitem
        unresolved: p_partkey (Join), l_partkey (Join), p_brand (Equality), p_container (Equality), l_quantity (Range), l_quantity (Output), l_extendedprice (Output)
        ",
    );
    // Nested IN subqueries, all unqualified, with several tables in scope at every level.
    check(
        "tpch.sql",
        "TPC-H Q20 ",
        r"
        kind: Select
        reads: supplier, nation, partsupp, part, lineitem
        cacheable
        table supplier
        table nation
        table partsupp
        table part
        table lineitem
        unresolved: s_suppkey (Equality), ps_partkey (Equality), p_name (Like), p_partkey (Output), ps_availqty (Range), l_partkey (Join), ps_partkey (Join), l_suppkey (Join), ps_suppkey (Join), l_shipdate (Range), l_quantity (Output), ps_suppkey (Output), s_nationkey (Join), n_nationkey (Join), n_name (Equality), s_name (Output), s_address (Output), s_name (OrderBy)
        ",
    );
    // Aliased references resolve; the unqualified ones do not.
    check(
        "tpch.sql",
        "TPC-H Q21 ",
        r"
        kind: Select
        reads: supplier, lineitem, orders, nation
        cacheable
        limit: 100
        table supplier
        table lineitem l1
          join: l_orderkey = lineitem.l_orderkey
        table orders
        table nation
        table lineitem l2
          join: l_orderkey = lineitem.l_orderkey
        table lineitem l3
          join: l_orderkey = lineitem.l_orderkey
        unresolved: s_suppkey (Join), o_orderkey (Join), o_orderstatus (Equality), s_nationkey (Join), n_nationkey (Join), n_name (Equality), s_name (Output), s_name (GroupBy), s_name (OrderBy)
        ",
    );
    // The inner `customer` shares its columns with the outer one, the same table; the
    // NOT EXISTS subquery's `orders` does not.
    check(
        "tpch.sql",
        "TPC-H Q22 ",
        r"
        kind: Select
        reads: customer, orders
        cacheable
        table customer
          range: c_acctbal
          expression: SUBSTRING(c_phone FROM 1 FOR 2) IN [substring; c_phone]
          outputs: c_phone, c_acctbal
        table customer
          range: c_acctbal
          expression: SUBSTRING(c_phone FROM 1 FOR 2) IN [substring; c_phone]
          outputs: c_acctbal
          constants: c_acctbal > 0.00
        table orders
        unresolved: o_custkey (Join), c_custkey (Join)
        ",
    );
}

#[test]
fn seed_reports() {
    check(
        "seed.sql",
        "seed 000 (chatbot): full-text message search",
        r"
        kind: Select
        reads: chatbot.messages, chatbot.conversations
        cacheable
        limit: 20
        table chatbot.messages
          full text: to_tsvector('english', content) [content]
          join: conversation_id = chatbot.conversations.id
          order by: created_at DESC
          outputs: id, conversation_id, content
        table chatbot.conversations
          equality: user_id
          join: id = chatbot.messages.conversation_id
          constants: user_id = 17
        ",
    );
    check(
        "seed.sql",
        "memory full-text search over question and answer combined",
        r"
        kind: Select
        reads: chatbot.memory
        cacheable
        limit: 10
        table chatbot.memory
          equality: user_id
          full text: to_tsvector('english', (COALESCE(question, '') || ' ') || COALESCE(answer, '')) [question answer]
          outputs: id, question, answer
          constants: user_id = 17
        ",
    );
    check(
        "seed.sql",
        "most important memories",
        r"
        kind: Select
        reads: chatbot.memory
        cacheable
        limit: 10
        table chatbot.memory
          equality: user_id
          null: importance IS NOT NULL
          order by: importance DESC
          outputs: id, question, importance
          constants: user_id = 17, importance IS NOT NULL
        ",
    );
    // A self-join: each reference has its own predicates.
    check(
        "seed.sql",
        "network generation, top co-occurring nouns",
        r"
        kind: Select
        reads: extracted_nouns
        cacheable
        limit: $3
        table extracted_nouns a
          equality: session_id
          range: noun
          join: content_id = extracted_nouns.content_id
          group by: noun
          outputs: noun
        table extracted_nouns b
          range: noun
          join: content_id = extracted_nouns.content_id
          group by: noun
          outputs: noun
        ",
    );
    // `now() - query_start > ...` is no expression an index could hold.
    check(
        "seed.sql",
        "get_long_running_queries",
        r#"
        kind: Select
        reads: pg_stat_activity
        not cacheable: LiveSystemView(TableName { schema: None, name: "pg_stat_activity" }), VolatileFunction("now")
        table pg_stat_activity
          null: query_start IS NOT NULL
          outputs: pid, query_start, state, query
          constants: state <> 'idle', query_start IS NOT NULL
        "#,
    );
    // The constant is on the left; the predicate reads with the column first.
    check(
        "seed.sql",
        "N+1 before the fix, post.responses lazy load per post",
        r"
        kind: Select
        reads: ai_responses
        cacheable
        table ai_responses
          equality: post_id
          outputs: id, post_id, body, score
          constants: post_id = 88123
        ",
    );
    check(
        "seed.sql",
        "food analytics GROUP BY",
        r"
        kind: Select
        reads: food_entries
        cacheable
        limit: 10
        table food_entries
          equality: user_id
          range: timestamp
          group by: food_name
          outputs: food_name, calories
        ",
    );
    check(
        "seed.sql",
        "recent food entries",
        r#"
        kind: Select
        reads: food_entries
        not cacheable: VolatileFunction("now")
        table food_entries
          equality: user_id
          range: timestamp
          order by: timestamp DESC
          outputs: *
        "#,
    );
}

#[test]
fn anti_patterns_and_utility_statements() {
    // `customer_id` could be the outer `customers`' column as well.
    check(
        "misc.sql",
        "NOT IN over a subquery that may yield NULL",
        r"
        kind: Select
        reads: customers, orders
        cacheable
        table customers
          outputs: id, name
        table orders
        unresolved: customer_id (Output)
        ",
    );
    check(
        "misc.sql",
        "anti-pattern: OR across different columns",
        r"
        kind: Select
        reads: users
        cacheable
        table users
          equality: first_name (or), last_name (or), nickname (or)
          outputs: id
          constants: first_name = 'Sam' (or), last_name = 'Sam' (or), nickname = 'Sam' (or)
        ",
    );
    // The DELETE in the CTE writes; its RETURNING * outputs every column.
    check(
        "misc.sql",
        "data-modifying CTE: move expired rows",
        r#"
        kind: Insert
        writes: sessions, sessions_archive
        not cacheable: NotASelect, DataModifyingCte, VolatileFunction("now")
        table sessions
          range: expires_at
          outputs: *
        table sessions_archive
        "#,
    );
    // MERGE counts as an UPDATE of its target.
    check(
        "misc.sql",
        "MERGE (PostgreSQL 15+)",
        r"
        kind: Update
        reads: incoming_stock
        writes: inventory
        not cacheable: NotASelect
        table inventory i
          join: sku = incoming_stock.sku
        table incoming_stock s
          join: sku = inventory.sku
        ",
    );
    // NATURAL JOIN needs the catalog; USING (id) has two tables on its left side.
    check(
        "misc.sql",
        "join types",
        r"
        kind: Select
        reads: a, b, c, d
        cacheable
        table a
          outputs: *
        table b
          outputs: *
        table c
          outputs: *
        table d
          outputs: *
        unresolved: id (Join), * (Output)
        ",
    );
    // Inside LATERAL, `customers c` is in scope too, so unqualified columns are ambiguous,
    // and so is everything the outer query reads through them.
    check(
        "misc.sql",
        "LATERAL join: three newest orders per customer",
        r"
        kind: Select
        reads: customers, orders
        cacheable
        table customers c
          join: id = orders.customer_id
          outputs: id, name
        table orders
          join: customer_id = customers.id
        unresolved: id (Output), total (Output), created_at (OrderBy), o.id (Output), o.total (Output)
        ",
    );
    check(
        "misc.sql",
        "EXPLAIN with options",
        r"
        kind: Utility
        reads: orders
        not cacheable: NotASelect
        limit: 10
        table orders
          equality: customer_id
          order by: created_at DESC
          outputs: *
          constants: customer_id = 42
        ",
    );
    check(
        "misc.sql",
        "GROUPING SETS",
        r"
        kind: Select
        reads: sales
        cacheable
        table sales
          group by: region, product
          outputs: region, product, amount
        ",
    );
    check(
        "misc.sql",
        "CREATE INDEX CONCURRENTLY with a partial predicate",
        r"
        kind: Ddl
        writes: orders
        not cacheable: NotASelect
        ",
    );
}
