//! What-if planning: the cost of a query under a set of candidate indexes.
//!
//! btree and BRIN candidates are created as HypoPG hypothetical indexes and the query is
//! explained: the planner's own cost with the index in place. GIN candidates (which HypoPG
//! cannot simulate), and every candidate when HypoPG is missing, are estimated instead: a
//! sequential scan whose filter the index serves is replaced by a bitmap scan of the rows
//! the planner expects, priced with the planner's own cost constants. Such a result is
//! marked as modeled: unproven until `--verify` builds the index.
//!
//! A candidate HypoPG refuses (a column type without a default btree operator class, an
//! expression it cannot index) is created under a savepoint, so the refusal costs only that
//! candidate: it is left out of every later evaluation and reported with HypoPG's reason.
//!
//! A query's cost depends only on the candidates on the tables it reads, so results are
//! cached per (query, candidates on its tables): choosing an index on `messages` costs no
//! new `EXPLAIN` for queries on `users`.

use std::collections::HashMap;

use brisk_pg::explain::{self, ExplainOptions, Explained, HypoIndex, HypoPg, Plan, Statement};
use brisk_pg::stats::PlannerCosts;
use brisk_pg::{PgError, Session};

use super::candidates::{Candidate, Method, Purpose};

/// How a query is planned.
#[derive(Debug, Clone)]
pub(crate) struct Planned {
    /// The text to explain: with values, or normalized.
    pub text: String,
    /// Values for the `$n` of a normalized text: it then gets a generic plan.
    pub args: Option<Vec<String>>,
    /// With `args`: plan for those values (a custom plan) rather than generically.
    pub custom: bool,
    /// The parameters' types for `PREPARE` where brisk had to name them; empty when
    /// PostgreSQL infers them all.
    pub types: Vec<String>,
    /// The oids of the tables it names.
    pub tables: Vec<u32>,
}

impl Planned {
    pub fn statement(&self) -> Statement<'_> {
        match &self.args {
            Some(args) if self.custom => Statement::Custom {
                sql: &self.text,
                types: &self.types,
                args,
            },
            Some(args) => Statement::Generic {
                sql: &self.text,
                types: &self.types,
                args,
            },
            None => Statement::Plain(&self.text),
        }
    }
}

/// A query's plan under a set of candidates.
#[derive(Debug, Clone)]
pub(crate) struct Evaluation {
    /// The plan's total cost, in the planner's units.
    pub cost: f64,
    /// How each table is read: `Index Scan using <candidate name> on messages`.
    pub paths: Vec<String>,
    /// The candidates the plan uses (or, for modeled ones, would use).
    pub used: Vec<usize>,
    /// Some of the cost comes from the model, not from the planner.
    pub modeled: bool,
}

/// Table sizes the model needs.
#[derive(Debug, Clone, Copy)]
pub(crate) struct TableSize {
    pub pages: f64,
}

pub(crate) struct WhatIf<'a> {
    session: &'a Session,
    hypopg: Option<HypoPg>,
    candidates: &'a [Candidate],
    names: &'a [String],
    costs: PlannerCosts,
    table_sizes: HashMap<u32, TableSize>,
    created: HashMap<usize, HypoIndex>,
    by_hypothetical_name: HashMap<String, usize>,
    cache: HashMap<(usize, Vec<usize>), Evaluation>,
    sizes: HashMap<usize, f64>,
    /// Candidates HypoPG refused to create, with its reason.
    refused: HashMap<usize, String>,
    /// `EXPLAIN` calls made.
    pub explains: usize,
    /// Evaluations answered from the cache.
    pub cache_hits: usize,
    /// Hypothetical indexes created.
    pub hypothetical_created: usize,
}

impl<'a> WhatIf<'a> {
    pub fn new(
        session: &'a Session,
        hypopg: Option<HypoPg>,
        candidates: &'a [Candidate],
        names: &'a [String],
        costs: PlannerCosts,
        table_sizes: HashMap<u32, TableSize>,
    ) -> WhatIf<'a> {
        WhatIf {
            session,
            hypopg,
            candidates,
            names,
            costs,
            table_sizes,
            created: HashMap::new(),
            by_hypothetical_name: HashMap::new(),
            cache: HashMap::new(),
            sizes: HashMap::new(),
            refused: HashMap::new(),
            explains: 0,
            cache_hits: 0,
            hypothetical_created: 0,
        }
    }

    fn simulated(&self, candidate: usize) -> bool {
        self.hypopg.is_some() && self.candidates[candidate].method.is_hypothetical()
    }

    /// The size HypoPG estimated for a candidate it created, in bytes.
    pub fn hypothetical_size(&self, candidate: usize) -> Option<f64> {
        self.sizes.get(&candidate).copied()
    }

    /// The cost of query `query` (planned as `planned`) with the candidates `config` in
    /// place, from the cache when it was asked before.
    pub async fn evaluate(
        &mut self,
        query: usize,
        planned: &Planned,
        config: &[usize],
    ) -> Result<Evaluation, PgError> {
        let mut relevant: Vec<usize> = config
            .iter()
            .copied()
            .filter(|&c| planned.tables.contains(&self.candidates[c].table_oid))
            .filter(|c| !self.refused.contains_key(c))
            .collect();
        relevant.sort_unstable();
        relevant.dedup();
        let key = (query, relevant);
        if let Some(found) = self.cache.get(&key) {
            self.cache_hits += 1;
            return Ok(found.clone());
        }
        let (simulated, modeled): (Vec<usize>, Vec<usize>) =
            key.1.iter().partition(|&&c| self.simulated(c));
        self.place(&planned.tables, &simulated).await?;
        self.explains += 1;
        let explained =
            explain::explain(self.session, planned.statement(), ExplainOptions::default()).await?;
        let generic = planned.args.is_some() && !planned.custom;
        let evaluation = self.judge(&explained, &modeled, generic);
        self.cache.insert(key, evaluation.clone());
        Ok(evaluation)
    }

    /// Makes the hypothetical indexes on `tables` exactly `wanted`.
    async fn place(&mut self, tables: &[u32], wanted: &[usize]) -> Result<(), PgError> {
        let Some(hypopg) = self.hypopg.clone() else {
            return Ok(());
        };
        let extra: Vec<usize> = self
            .created
            .keys()
            .copied()
            .filter(|c| tables.contains(&self.candidates[*c].table_oid) && !wanted.contains(c))
            .collect();
        for candidate in extra {
            if let Some(index) = self.created.remove(&candidate) {
                self.by_hypothetical_name.remove(&index.name);
                hypopg.drop(self.session, &index).await?;
            }
        }
        for &candidate in wanted {
            if self.created.contains_key(&candidate) || self.refused.contains_key(&candidate) {
                continue;
            }
            match self.create(&hypopg, candidate).await? {
                Ok((index, size)) => {
                    self.hypothetical_created += 1;
                    self.sizes.entry(candidate).or_insert(size as f64);
                    self.by_hypothetical_name
                        .insert(index.name.clone(), candidate);
                    self.created.insert(candidate, index);
                }
                Err(reason) => {
                    self.refused.insert(candidate, reason);
                }
            }
        }
        Ok(())
    }

    /// Creates and sizes one candidate under a savepoint. `Ok(Err(reason))` when HypoPG
    /// refused it: the transaction is back where it was and the run goes on without it.
    /// `Err` only when the savepoint itself fails (the connection is gone).
    async fn create(
        &self,
        hypopg: &HypoPg,
        candidate: usize,
    ) -> Result<Result<(HypoIndex, i64), String>, PgError> {
        let client = self.session.client();
        let statement = |sql: &'static str, context: &'static str| async move {
            client
                .batch_execute(sql)
                .await
                .map_err(|e| PgError::query(context, e))
        };
        statement(
            "/* brisk */ SAVEPOINT brisk_whatif",
            "setting a savepoint before a hypothetical index",
        )
        .await?;
        let ddl = self.candidates[candidate].hypothetical_ddl();
        let created = match hypopg.create(self.session, &ddl).await {
            Ok(index) => match hypopg.size(self.session, &index).await {
                Ok(size) => Ok((index, size)),
                Err(e) => Err((e, Some(index))),
            },
            Err(e) => Err((e, None)),
        };
        match created {
            Ok(made) => {
                statement(
                    "/* brisk */ RELEASE SAVEPOINT brisk_whatif",
                    "releasing a savepoint after a hypothetical index",
                )
                .await?;
                Ok(Ok(made))
            }
            Err((error, made)) => {
                statement(
                    "/* brisk */ ROLLBACK TO SAVEPOINT brisk_whatif",
                    "rolling back a refused hypothetical index",
                )
                .await?;
                // Hypothetical indexes live in the backend's memory, not in the
                // transaction: one created before the failure is still there.
                if let Some(index) = made {
                    hypopg.drop(self.session, &index).await?;
                }
                Ok(Err(error.to_string()))
            }
        }
    }

    /// The candidates HypoPG refused to create, with its reason, in candidate order.
    pub fn refused(&self) -> Vec<(usize, String)> {
        let mut refused: Vec<(usize, String)> =
            self.refused.iter().map(|(c, r)| (*c, r.clone())).collect();
        refused.sort_unstable();
        refused
    }

    /// The evaluation of a plan, with the modeled candidates' savings applied.
    fn judge(&self, explained: &Explained, modeled: &[usize], generic: bool) -> Evaluation {
        let plan = &explained.plan;
        let mut used: Vec<usize> = plan
            .nodes()
            .iter()
            .filter_map(|n| n.index_name.as_ref())
            .filter_map(|name| self.by_hypothetical_name.get(name).copied())
            .collect();
        let mut cost = plan.total_cost;
        let mut paths: Vec<String> = plan
            .access_paths()
            .into_iter()
            .map(|path| self.rename(path))
            .collect();
        let mut applied = false;
        for &candidate in modeled {
            if let Some((saving, path)) = self.model(plan, candidate, generic) {
                if saving > 0.0 {
                    cost -= saving;
                    applied = true;
                    used.push(candidate);
                    if let Some(old) = paths.iter_mut().find(|p| {
                        p.starts_with("Seq Scan") && p.ends_with(&self.candidates[candidate].table)
                    }) {
                        *old = path;
                    }
                }
            }
        }
        used.sort_unstable();
        used.dedup();
        Evaluation {
            cost: cost.max(0.0),
            paths,
            used,
            modeled: applied,
        }
    }

    /// `<13559>btree_messages_conversation_id` → the candidate's own name.
    fn rename(&self, path: String) -> String {
        for (hypothetical, &candidate) in &self.by_hypothetical_name {
            if path.contains(hypothetical.as_str()) {
                return path.replace(hypothetical.as_str(), &self.names[candidate]);
            }
        }
        path
    }

    /// The saving a candidate the planner cannot see would bring: each sequential scan of
    /// its table whose filter tests a column the index serves becomes a bitmap index scan
    /// that reads the matching rows' pages. Returns the saving in cost units and the new
    /// access path.
    ///
    /// In a generic plan, a trigram candidate's scan counts in full even under a `LIMIT`:
    /// the planner stops the scan early because it guesses that an unknown pattern matches
    /// 0.5% of the rows, but a search pattern (`'%word%'`) matches far fewer, and the scan
    /// then reads the whole table before it has enough rows.
    fn model(&self, plan: &Plan, candidate: usize, generic: bool) -> Option<(f64, String)> {
        let c = &self.candidates[candidate];
        let pages = self.table_sizes.get(&c.table_oid)?.pages.max(1.0);
        let served: Vec<&String> = match c.method {
            // A btree serves its leading column; GIN and BRIN every column they hold.
            Method::Btree => c
                .keys
                .first()
                .map(|k| k.reads.iter().collect())
                .unwrap_or_default(),
            Method::Gin | Method::Brin => c.keys.iter().flat_map(|k| &k.reads).collect(),
        };
        let total = plan.total_cost.max(f64::MIN_POSITIVE);
        let mut saving = 0.0;
        for node in plan.nodes() {
            let scans_table =
                node.relation.as_deref() == Some(c.table.as_str()) && node.node_type == "Seq Scan";
            let filtered = node.filter.as_deref().is_some_and(|f| {
                served.iter().any(|column| mentions(f, column)) && serves_operator(c.purpose, f)
            });
            if !scans_table || !filtered {
                continue;
            }
            // Under a LIMIT the planner charges only the share of the scan it expects to
            // run before enough rows came out. A bitmap scan reads its whole index before
            // the first row (its startup), and then only that share of the heap.
            let (index, heap) = self.bitmap_scan_cost(node.rows, pages, c.method);
            if generic && c.purpose == Purpose::Trigram {
                // The whole scan, replaced by the bitmap scan; the plan keeps at least the
                // bitmap scan's cost.
                saving += (node.total_cost - (index + heap))
                    .min(total - (index + heap))
                    .max(0.0);
                continue;
            }
            let share = (total / node.total_cost.max(f64::MIN_POSITIVE)).min(1.0);
            saving += (node.total_cost * share - (index + heap * share)).max(0.0);
        }
        (saving > 0.0).then(|| {
            (
                saving,
                format!(
                    "Bitmap Heap Scan using {} on {} (modeled)",
                    self.names[candidate], c.table
                ),
            )
        })
    }

    /// PostgreSQL's bitmap heap scan costing, simplified, as (index part, heap part): the
    /// index entries of `rows` matching rows, then their pages fetched at a cost between
    /// `random_page_cost` and `seq_page_cost` (closer to sequential as more of the table is
    /// read), plus the CPU per row.
    fn bitmap_scan_cost(&self, rows: f64, pages: f64, method: Method) -> (f64, f64) {
        let costs = &self.costs;
        let fetched = rows.min(pages).max(1.0);
        let per_page = costs.random_page_cost
            - (costs.random_page_cost - costs.seq_page_cost) * (fetched / pages).sqrt();
        // A GIN lookup reads several posting lists per value (one per trigram or lexeme).
        let entries_per_row = if method == Method::Gin { 3.0 } else { 1.0 };
        let index =
            costs.random_page_cost * 2.0 + rows * entries_per_row * costs.cpu_index_tuple_cost;
        let heap = fetched * per_page + rows * (costs.cpu_tuple_cost + costs.cpu_operator_cost);
        (index, heap)
    }

    /// Removes every hypothetical index of this backend.
    pub async fn reset(&mut self) -> Result<(), PgError> {
        if let Some(hypopg) = &self.hypopg {
            hypopg.reset(self.session).await?;
        }
        self.created.clear();
        self.by_hypothetical_name.clear();
        Ok(())
    }
}

/// Whether the filter uses an operator the candidate's index can serve: a trigram index
/// serves `LIKE`/`ILIKE` (`~~`, `~~*`), a full-text index `@@`, a containment index `@>`,
/// `<@` and `&&`; btree and BRIN serve the comparisons.
fn serves_operator(purpose: Purpose, filter: &str) -> bool {
    match purpose {
        Purpose::Trigram => filter.contains("~~"),
        Purpose::FullText => filter.contains("@@"),
        Purpose::Containment => ["@>", "<@", "&&"].iter().any(|op| filter.contains(op)),
        _ => true,
    }
}

/// Whether a plan's filter text mentions `column` as a whole word.
fn mentions(filter: &str, column: &str) -> bool {
    filter.match_indices(column).any(|(at, _)| {
        let before = filter[..at].chars().next_back();
        let after = filter[at + column.len()..].chars().next();
        let word = |c: Option<char>| c.is_some_and(|c| c.is_alphanumeric() || c == '_');
        !word(before) && !word(after)
    })
}

#[cfg(test)]
mod tests {
    use super::mentions;

    #[test]
    fn filters_mention_whole_columns_only() {
        assert!(mentions("(title ~~* '%abc%'::text)", "title"));
        assert!(mentions(
            "(to_tsvector('english'::regconfig, content) @@ q)",
            "content"
        ));
        assert!(!mentions("(subtitle ~~ 'x')", "title"));
        assert!(!mentions("(title_x = 1)", "title"));
    }
}
