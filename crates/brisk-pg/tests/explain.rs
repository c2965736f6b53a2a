//! Generic plans of normalized texts on a real server, with and without the parameter
//! types brisk names where PostgreSQL cannot infer them.

use brisk_pg::conninfo::ConnInfo;
use brisk_pg::explain::{self, ExplainOptions, Statement};
use brisk_pg::{stats, Session, SessionOptions};
use brisk_sandbox::shared_postgres;

/// Runs `work` on a session to a fresh database holding `schema`, inside a brisk
/// transaction.
fn with_session<T>(schema: &str, work: impl AsyncFnOnce(&Session) -> T) -> T {
    let pg = shared_postgres().unwrap();
    let database = pg.fresh_database("explain").unwrap();
    pg.psql(&database, schema).unwrap();
    let info = ConnInfo::from_env_and_str(Some(&pg.url(&database))).unwrap();
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(async {
            let session = Session::connect(&info, &SessionOptions::default())
                .await
                .unwrap();
            session.begin().await.unwrap();
            let result = work(&session).await;
            session.rollback().await.unwrap();
            result
        })
}

const EVENTS: &str = "CREATE TABLE events (id int PRIMARY KEY, made_at timestamptz, due date);";

fn strings(names: &[&str]) -> Vec<String> {
    names.iter().map(|s| s.to_string()).collect()
}

#[test]
fn named_types_prepare_what_inference_cannot() {
    with_session(EVENTS, async |session| {
        let sql = "SELECT id FROM events WHERE due < $1 + $2 AND made_at > now() - $3";
        let inferred = explain::parameter_types(session, sql, &[]).await;
        let error = inferred.unwrap_err().to_string();
        assert!(error.contains("operator is not unique"), "{error}");

        let types = strings(&["date", "integer", "interval"]);
        let found = explain::parameter_types(session, sql, &types)
            .await
            .unwrap();
        assert_eq!(found, types);

        // `unknown` leaves a parameter to PostgreSQL, which infers it from the others.
        let partly = strings(&["date", "integer", "unknown"]);
        let sql = "SELECT id FROM events WHERE due < $1 + $2 AND id = $3";
        let found = explain::parameter_types(session, sql, &partly)
            .await
            .unwrap();
        assert_eq!(found, ["date", "integer", "integer"]);

        let args = strings(&["'2024-01-01'", "'3'", "'7'"]);
        let statement = Statement::Generic {
            sql,
            types: &partly,
            args: &args,
        };
        let plan = explain::explain(session, statement, ExplainOptions::default())
            .await
            .unwrap();
        assert_eq!(plan.plan.access_paths().len(), 1, "{plan:?}");
    });
}

#[test]
fn a_type_list_cannot_smuggle_sql() {
    with_session(EVENTS, async |session| {
        let types = strings(&["int) AS SELECT 1; SELECT (1"]);
        let error = explain::parameter_types(session, "SELECT $1", &types)
            .await
            .unwrap_err()
            .to_string();
        assert!(error.contains("is not a type name"), "{error}");
        // The session goes on after the refusal.
        let found = explain::parameter_types(session, "SELECT id FROM events WHERE id = $1", &[])
            .await
            .unwrap();
        assert_eq!(found, ["integer"]);
    });
}

#[test]
fn function_signatures_list_every_visible_overload() {
    with_session(EVENTS, async |session| {
        let names = strings(&["to_char", "date_trunc"]);
        let found = stats::function_signatures(session, &names).await.unwrap();
        let to_char: Vec<&Vec<String>> = found
            .iter()
            .filter(|f| f.name == "to_char")
            .map(|f| &f.arg_types)
            .collect();
        assert!(to_char.len() > 1, "{to_char:?}");
        assert!(to_char
            .iter()
            .all(|args| args.len() == 2 && args[1] == "text"));
        assert!(
            found
                .iter()
                .any(|f| f.name == "date_trunc"
                    && f.arg_types == ["text", "timestamp with time zone"])
        );
    });
}
