//! Choosing the set of indexes for the whole workload, not query by query.
//!
//! A greedy search in the spirit of Extend (Schlosser, Kossmann and Boissier, ICDE 2019):
//! each step takes the candidate with the best net benefit per byte, given the indexes
//! already chosen, among those that save at least a set share of the workload's remaining
//! time, until none does or the budget (bytes or number of indexes) is spent. A candidate
//! that extends a chosen index (the same keys plus more) replaces it rather than joining it,
//! so one index that serves several queries wins over several narrow ones, and its cost in
//! bytes is only the difference; adding no index, it needs only a net gain, not the
//! threshold's share.
//!
//! Benefit is the drop in each query's planned cost, weighted by how much the query is
//! worth (calls × milliseconds per cost unit), minus the write overhead of keeping the index
//! up to date. Gains only shrink as indexes are added, so the search is lazy: a candidate's
//! gain is recomputed only when it reaches the top of the queue with a stale value (CELF).

use std::cmp::Ordering;
use std::collections::BinaryHeap;

use brisk_pg::PgError;

use super::candidates::Candidate;
use super::whatif::{Planned, WhatIf};

/// What the search may spend and what a candidate must earn.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Limits {
    pub budget_bytes: Option<f64>,
    pub max_indexes: usize,
    /// The estimated milliseconds of the whole workload without new indexes.
    pub workload_ms: f64,
    /// The least share of the workload's remaining estimated time an index must save, net
    /// of its write overhead (0.01 = 1%). Relative to what is left: once the heavy queries
    /// are served, the next index is judged against the time that remains.
    pub min_benefit: f64,
}

/// Per candidate, what the search needs besides plans.
pub(crate) struct CandidateFacts {
    /// The queries whose cost the candidate may change.
    pub affected: Vec<usize>,
    /// Estimated write overhead, milliseconds over the workload's window.
    pub overhead_ms: f64,
    /// Size estimate when HypoPG gives none (GIN, or no HypoPG), in bytes.
    pub modeled_size: f64,
}

/// One chosen index.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Chosen {
    pub candidate: usize,
    /// Net benefit when it was chosen, estimated milliseconds over the workload.
    pub gain_ms: f64,
    pub size_bytes: f64,
}

#[derive(Debug, Clone, Copy, PartialEq)]
struct Ratio(f64);

impl Eq for Ratio {}

impl PartialOrd for Ratio {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Ratio {
    fn cmp(&self, other: &Self) -> Ordering {
        self.0.total_cmp(&other.0)
    }
}

/// A queue entry: the candidate's ratio as of `round`.
#[derive(Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Entry {
    ratio: Ratio,
    round: usize,
    candidate: usize,
}

/// The result of one candidate's evaluation against the chosen set.
struct Gain {
    net_ms: f64,
    size_delta: f64,
    replaces: Vec<usize>,
}

/// How the search ranks candidates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Ranking {
    /// Net benefit per byte: the right order when bytes are what is scarce (Extend's).
    PerByte,
    /// Net benefit: the right order when the number of indexes is what is scarce. Per
    /// byte, a BRIN of a few pages that halves a range scan outranks a btree that serves
    /// the same queries a hundred times better, and `--max-indexes` then runs out on them.
    Benefit,
}

pub(crate) struct Search<'a, 'w> {
    pub whatif: &'a mut WhatIf<'w>,
    pub ranking: Ranking,
    pub planned: &'a [Planned],
    /// Milliseconds per cost unit × calls, per query.
    pub weights: &'a [f64],
    pub candidates: &'a [Candidate],
    pub facts: &'a [CandidateFacts],
    pub limits: Limits,
}

impl Search<'_, '_> {
    fn size(&self, candidate: usize) -> f64 {
        self.whatif
            .hypothetical_size(candidate)
            .unwrap_or(self.facts[candidate].modeled_size)
    }

    /// The chosen set with `candidate` added, and the chosen indexes it replaces.
    fn with(&self, chosen: &[usize], candidate: usize) -> (Vec<usize>, Vec<usize>) {
        let c = &self.candidates[candidate];
        let replaces: Vec<usize> = chosen
            .iter()
            .copied()
            .filter(|&s| c.extends(&self.candidates[s]))
            .collect();
        let mut config: Vec<usize> = chosen
            .iter()
            .copied()
            .filter(|s| !replaces.contains(s))
            .collect();
        config.push(candidate);
        (config, replaces)
    }

    async fn gain(&mut self, chosen: &[usize], candidate: usize) -> Result<Gain, PgError> {
        let (config, replaces) = self.with(chosen, candidate);
        let mut queries: Vec<usize> = self.facts[candidate].affected.clone();
        for &r in &replaces {
            queries.extend(&self.facts[r].affected);
        }
        queries.sort_unstable();
        queries.dedup();
        let mut saved = 0.0;
        for q in queries {
            let before = self
                .whatif
                .evaluate(q, &self.planned[q], chosen)
                .await?
                .cost;
            let after = self
                .whatif
                .evaluate(q, &self.planned[q], &config)
                .await?
                .cost;
            saved += self.weights[q] * (before - after);
        }
        let overhead = self.facts[candidate].overhead_ms
            - replaces
                .iter()
                .map(|&r| self.facts[r].overhead_ms)
                .sum::<f64>();
        let size_delta = self.size(candidate) - replaces.iter().map(|&r| self.size(r)).sum::<f64>();
        Ok(Gain {
            net_ms: saved - overhead,
            size_delta,
            replaces,
        })
    }

    fn ratio(&self, gain: &Gain) -> f64 {
        match self.ranking {
            // An index that replaces a bigger one costs nothing in bytes: rank it by its gain.
            Ranking::PerByte => gain.net_ms / gain.size_delta.max(1.0),
            Ranking::Benefit => gain.net_ms,
        }
    }

    /// Runs the search and returns the chosen indexes in the order they were chosen, with
    /// replaced ones removed.
    pub async fn run(mut self, progress: &(dyn Fn(&str) + Sync)) -> Result<Vec<Chosen>, PgError> {
        let mut queue = BinaryHeap::new();
        let total = self.candidates.len();
        for candidate in 0..total {
            if candidate % 10 == 0 {
                progress(&format!(
                    "what-if planning: candidate {} of {total}",
                    candidate + 1
                ));
            }
            let gain = self.gain(&[], candidate).await?;
            if gain.net_ms > 0.0 {
                queue.push(Entry {
                    ratio: Ratio(self.ratio(&gain)),
                    round: 0,
                    candidate,
                });
            }
        }
        let mut chosen: Vec<Chosen> = Vec::new();
        // Candidates worth something, but less than the threshold for now: the threshold
        // shrinks with the workload, so they get another look after each choice.
        let mut deferred: Vec<usize> = Vec::new();
        let mut remaining_ms = self.limits.workload_ms;
        let mut round = 0;
        while let Some(entry) = queue.pop() {
            let ids: Vec<usize> = chosen.iter().map(|c| c.candidate).collect();
            if ids.contains(&entry.candidate) {
                continue;
            }
            let gain = self.gain(&ids, entry.candidate).await?;
            if gain.net_ms <= 0.0 {
                continue;
            }
            if entry.round != round {
                queue.push(Entry {
                    ratio: Ratio(self.ratio(&gain)),
                    round,
                    candidate: entry.candidate,
                });
                continue;
            }
            // The threshold guards against indexes not worth maintaining; one that replaces a
            // chosen index adds none, only bytes, so any net gain is worth it. This is how a
            // range column joins its equality columns (`(carrier_id, shipped_at)` over
            // `(carrier_id)`) even when a generic plan, which guesses that a range keeps a
            // third of the rows, makes the gain look small.
            let adds_one = gain.replaces.is_empty();
            if adds_one && gain.net_ms < self.limits.min_benefit * remaining_ms {
                deferred.push(entry.candidate);
                continue;
            }
            if adds_one && chosen.len() >= self.limits.max_indexes {
                continue;
            }
            let used: f64 = chosen.iter().map(|c| c.size_bytes).sum();
            if let Some(budget) = self.limits.budget_bytes {
                if used + gain.size_delta > budget {
                    continue;
                }
            }
            // What the replaced indexes earned, the one replacing them now earns.
            let inherited: f64 = chosen
                .iter()
                .filter(|c| gain.replaces.contains(&c.candidate))
                .map(|c| c.gain_ms)
                .sum();
            chosen.retain(|c| !gain.replaces.contains(&c.candidate));
            chosen.push(Chosen {
                candidate: entry.candidate,
                gain_ms: gain.net_ms + inherited,
                size_bytes: self.size(entry.candidate),
            });
            remaining_ms -= gain.net_ms;
            round += 1;
            for candidate in deferred.drain(..) {
                queue.push(Entry {
                    ratio: Ratio(f64::MAX),
                    round: round - 1,
                    candidate,
                });
            }
            progress(&format!(
                "what-if planning: {} indexes chosen",
                chosen.len()
            ));
        }
        Ok(chosen)
    }
}
