//! Which ORM sent a statement, and its own idiom for batching a repeated one.
//!
//! An N+1 almost always comes from an ORM's lazy loading, and each ORM has its own switch for
//! loading the rows in one statement. The ORM shows in the client's `application_name` when
//! the app sets one, and otherwise in the SQL each ORM writes in its own recognisable way.
//! What this finds is a hint, and reports label it as one: the SQL rewrite is the fix.

use brisk_sql::{Lexer, TokenKind};

use crate::DetectionKind;

/// An ORM brisk knows the idioms of.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Orm {
    SqlAlchemy,
    Django,
    ActiveRecord,
    Prisma,
    Hibernate,
}

impl Orm {
    /// The ORM's name as its users write it.
    pub fn name(self) -> &'static str {
        match self {
            Orm::SqlAlchemy => "SQLAlchemy",
            Orm::Django => "Django",
            Orm::ActiveRecord => "Rails (Active Record)",
            Orm::Prisma => "Prisma",
            Orm::Hibernate => "Hibernate",
        }
    }

    /// The ORM named by an `application_name`, as the apps and drivers of each set it.
    fn from_application_name(name: &str) -> Option<Orm> {
        let name = name.to_ascii_lowercase();
        let has = |w: &str| name.contains(w);
        if has("sqlalchemy") {
            Some(Orm::SqlAlchemy)
        } else if has("django") {
            Some(Orm::Django)
        } else if has("rails") || has("activerecord") || has("puma") || has("sidekiq") {
            Some(Orm::ActiveRecord)
        } else if has("prisma") {
            Some(Orm::Prisma)
        } else if has("hibernate") {
            Some(Orm::Hibernate)
        } else {
            None
        }
    }

    /// The ORM whose way of writing SQL `query` shows:
    /// - SQLAlchemy labels each column `table.col AS table_col`;
    /// - Prisma qualifies every column with a quoted schema and table, `"public"."User"."id"`;
    /// - Active Record selects `"table".*`;
    /// - Django qualifies every column with its quoted table, `"app_model"."id"`;
    /// - Hibernate 6 aliases tables `u1_0`, Hibernate 5 `user0_`.
    fn from_sql(query: &str) -> Option<Orm> {
        let tokens: Vec<_> = Lexer::new(query).filter(|t| !t.kind.is_trivia()).collect();
        let text = |i: usize| tokens.get(i).map_or("", |t| t.text);
        let kind = |i: usize| tokens.get(i).map(|t| t.kind);
        let quoted = |i: usize| kind(i) == Some(TokenKind::QuotedIdentifier);
        let dot = |i: usize| kind(i) == Some(TokenKind::Dot);
        let mut quoted_pairs = 0;
        for i in 0..tokens.len() {
            // "public"."User"."id": three quoted names.
            if quoted(i) && dot(i + 1) && quoted(i + 2) && dot(i + 3) && quoted(i + 4) {
                return Some(Orm::Prisma);
            }
            // "users".*
            if quoted(i) && dot(i + 1) && text(i + 2) == "*" {
                return Some(Orm::ActiveRecord);
            }
            if quoted(i) && dot(i + 1) && quoted(i + 2) {
                quoted_pairs += 1;
            }
            // users.id AS users_id
            if kind(i) == Some(TokenKind::Identifier)
                && dot(i + 1)
                && text(i + 3).eq_ignore_ascii_case("as")
                && text(i + 4).eq_ignore_ascii_case(&format!("{}_{}", text(i), text(i + 2)))
            {
                return Some(Orm::SqlAlchemy);
            }
            if kind(i) == Some(TokenKind::Identifier) && dot(i + 1) && is_hibernate_alias(text(i)) {
                return Some(Orm::Hibernate);
            }
        }
        (quoted_pairs >= 2).then_some(Orm::Django)
    }
}

/// `u1_0` (Hibernate 6: letters, a number, `_`, a number) or `user0_` (Hibernate 5).
fn is_hibernate_alias(alias: &str) -> bool {
    let letters = alias.trim_start_matches(|c: char| c.is_ascii_lowercase());
    if letters.len() == alias.len() || letters.is_empty() {
        return false;
    }
    let digits = letters.trim_start_matches(|c: char| c.is_ascii_digit());
    if digits.len() == letters.len() {
        return false;
    }
    match digits.strip_prefix('_') {
        Some("") => true,
        Some(rest) => !rest.is_empty() && rest.chars().all(|c| c.is_ascii_digit()),
        None => false,
    }
}

/// The ORM's idiom for removing a pattern, labelled as a hint, when `application_name` or the
/// SQL (`normalized`, or `query` as sent) shows which ORM sent it.
pub fn orm_hint(
    kind: DetectionKind,
    application_name: &str,
    normalized: &str,
    query: &str,
) -> Option<String> {
    let orm = Orm::from_application_name(application_name)
        .or_else(|| Orm::from_sql(normalized))
        .or_else(|| Orm::from_sql(query))?;
    let idiom = match (kind, orm) {
        (DetectionKind::NPlusOne, Orm::SqlAlchemy) => {
            "load the related rows with the query: .options(selectinload(Parent.children)) \
             (joinedload for a many-to-one)"
        }
        (DetectionKind::NPlusOne, Orm::Django) => {
            "prefetch_related('children') on the queryset (select_related('parent') for a \
             foreign key)"
        }
        (DetectionKind::NPlusOne, Orm::ActiveRecord) => {
            "includes(:children) on the relation (preload or eager_load to choose the strategy)"
        }
        (DetectionKind::NPlusOne, Orm::Prisma) => {
            "include: { children: true } in the findMany that loads the parents"
        }
        (DetectionKind::NPlusOne, Orm::Hibernate) => {
            "JOIN FETCH the association in the query, or set hibernate.default_batch_fetch_size"
        }
        (DetectionKind::BulkWrite, Orm::SqlAlchemy) => {
            "session.execute(insert(Model), [rows...]) writes the rows in one statement"
        }
        (DetectionKind::BulkWrite, Orm::Django) => "Model.objects.bulk_create(objs)",
        (DetectionKind::BulkWrite, Orm::ActiveRecord) => "Model.insert_all(rows)",
        (DetectionKind::BulkWrite, Orm::Prisma) => "prisma.model.createMany({ data: rows })",
        (DetectionKind::BulkWrite, Orm::Hibernate) => {
            "set hibernate.jdbc.batch_size and hibernate.order_inserts=true"
        }
    };
    Some(format!("{} hint: {idiom}", orm.name()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_orm_is_told_by_the_sql_it_writes() {
        let cases = [
            (
                "SELECT comments.id AS comments_id, comments.body AS comments_body FROM comments WHERE $1 = comments.post_id",
                Some(Orm::SqlAlchemy),
            ),
            (
                "SELECT \"blog_comment\".\"id\", \"blog_comment\".\"body\" FROM \"blog_comment\" WHERE \"blog_comment\".\"post_id\" = $1",
                Some(Orm::Django),
            ),
            (
                "SELECT \"comments\".* FROM \"comments\" WHERE \"comments\".\"post_id\" = $1",
                Some(Orm::ActiveRecord),
            ),
            (
                "SELECT \"public\".\"Comment\".\"id\", \"public\".\"Comment\".\"body\" FROM \"public\".\"Comment\" WHERE \"public\".\"Comment\".\"postId\" = $1 OFFSET $2",
                Some(Orm::Prisma),
            ),
            (
                "select c1_0.id,c1_0.body from comments c1_0 where c1_0.post_id=$1",
                Some(Orm::Hibernate),
            ),
            (
                "select comment0_.id as id1_0_, comment0_.body as body2_0_ from comments comment0_ where comment0_.post_id=$1",
                Some(Orm::Hibernate),
            ),
            // Hand-written SQL names no ORM.
            ("SELECT id, body FROM comments WHERE post_id = $1", None),
            ("SELECT c.id, c.body FROM comments c WHERE c.post_id = $1", None),
            ("SELECT t1.a FROM t1 WHERE t1.b = $1", None),
        ];
        for (sql, orm) in cases {
            assert_eq!(Orm::from_sql(sql), orm, "{sql}");
        }
    }

    #[test]
    fn the_application_name_wins_and_the_hint_says_it_is_one() {
        let hint = orm_hint(
            DetectionKind::NPlusOne,
            "django-web",
            "SELECT id FROM t WHERE a = $1",
            "",
        );
        assert_eq!(
            hint.as_deref(),
            Some("Django hint: prefetch_related('children') on the queryset (select_related('parent') for a foreign key)")
        );
        assert_eq!(
            orm_hint(
                DetectionKind::BulkWrite,
                "",
                "INSERT INTO t VALUES ($1)",
                ""
            ),
            None
        );
        assert!(orm_hint(
            DetectionKind::BulkWrite,
            "",
            "INSERT INTO \"items\" (\"a\") VALUES ($1) RETURNING \"items\".\"id\", \"items\".\"a\"",
            ""
        )
        .is_some_and(|h| h.contains("bulk_create")));
    }
}
