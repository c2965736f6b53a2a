//! Where a client's transactions start, for the rate limits: sans-IO, as the relay is.
//!
//! A transaction is charged when its first unit of work arrives while the client is out of
//! any transaction, so a limit never cuts one in half. A unit is one simple Query (or
//! FunctionCall), or an extended-protocol batch up to its Sync that executes something: a
//! batch that only prepares or describes (drivers' Parse, Describe, Sync before the first
//! run of a statement) is no work and is not charged.
//!
//! - Whether a unit starts a transaction is known once the server has answered everything
//!   before it (its last ReadyForQuery says idle or in a transaction), so a unit a client
//!   pipelines behind unanswered work is held back until then. That costs pipelining only
//!   to clients a rule applies to.
//! - Whether a batch executes is read ahead in what the client has sent: an Execute before
//!   the Sync. A batch whose Execute comes later (after a Flush, with its first messages
//!   already relayed) cannot be refused without cutting it, so it is charged when its
//!   Execute arrives and waits for its turn instead of being refused.
//! - A refused unit is answered as PostgreSQL answers a batch whose first message failed:
//!   one ErrorResponse (SQLSTATE 53400), every message up to the Sync skipped, then
//!   ReadyForQuery.

use std::time::Duration;

use crate::relay::{Relay, TransactionStatus};
use brisk_wire::protocol::{self, ProtocolError};

/// What to do with the client's next message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// Relay it.
    Go,
    /// Leave it buffered until the server has answered what is in flight.
    Hold,
    /// It belongs to a refused unit: consumed without an answer of its own.
    Skip,
    /// It starts a transaction: charge it (with this fingerprint, when rules need one),
    /// then tell the gate the verdict.
    Charge(Option<u64>),
    /// Charge it, but it may not be refused (its batch is partly relayed): wait for the
    /// turn instead.
    ChargeAndWait(Option<u64>),
}

/// What the session does with the client's next message, once charged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admit {
    Go,
    Hold,
    /// Answered or dropped by the gate.
    Skip,
}

/// One client's view of where its units start.
#[derive(Debug, Default)]
pub struct Gate {
    /// Inside an extended-protocol batch (a message other than Sync was relayed after the
    /// last Sync).
    in_batch: bool,
    /// The batch was charged, or needs no charge (it runs inside a transaction).
    settled: bool,
    /// Skipping the rest of a refused batch, up to its Sync.
    refusing: bool,
}

/// Messages of an extended-protocol batch.
fn in_extended_batch(kind: u8) -> bool {
    matches!(kind, b'P' | b'B' | b'D' | b'C' | b'E')
}

/// Whether the buffered batch that starts at `rest` (whole messages) has an Execute
/// before its Sync.
fn batch_executes(rest: &[u8]) -> bool {
    let mut at = 0;
    while let Ok(Some(header)) = protocol::whole_frame(&rest[at..], usize::MAX) {
        match header.kind {
            b'E' => return true,
            b'S' => return false,
            _ => at += header.total_len(),
        }
    }
    false
}

impl Gate {
    /// Decides about the client's next message: `rest` is the buffered input from that
    /// message on. `attached`: a server is attached, so answers in flight will come.
    pub fn step(
        &mut self,
        rest: &[u8],
        relay: &mut Relay,
        attached: bool,
        with_fingerprint: bool,
    ) -> Result<Step, ProtocolError> {
        let Some(header) = protocol::whole_frame(rest, usize::MAX)? else {
            return Ok(Step::Go);
        };
        let (kind, body) = (header.kind, &rest[5..header.total_len()]);
        if self.refusing {
            if kind == b'S' {
                self.refusing = false;
                let status = relay.status().byte();
                protocol::put_ready_for_query(&mut relay.to_client, status);
            }
            return Ok(Step::Skip);
        }
        let unit_start = matches!(kind, b'Q' | b'F') || (!self.in_batch && in_extended_batch(kind));
        if unit_start {
            if attached && relay.awaiting_server() {
                return Ok(Step::Hold);
            }
            let is_work = matches!(kind, b'Q' | b'F') || batch_executes(rest);
            if !is_work || relay.status() != TransactionStatus::Idle {
                // Nothing to run yet, or inside a transaction that was charged when it began.
                self.settled = relay.status() != TransactionStatus::Idle;
                self.passed(kind);
                return Ok(Step::Go);
            }
            return Ok(Step::Charge(self.fingerprint(
                kind,
                body,
                relay,
                with_fingerprint,
            )?));
        }
        if kind == b'E' && self.in_batch && !self.settled {
            return Ok(Step::ChargeAndWait(self.fingerprint(
                kind,
                body,
                relay,
                with_fingerprint,
            )?));
        }
        self.passed(kind);
        Ok(Step::Go)
    }

    fn fingerprint(
        &self,
        kind: u8,
        body: &[u8],
        relay: &Relay,
        with_fingerprint: bool,
    ) -> Result<Option<u64>, ProtocolError> {
        if !with_fingerprint {
            return Ok(None);
        }
        Ok(first_statement(kind, body, relay)?.map(|text| fingerprint_of(&text)))
    }

    /// The charge allowed the unit: its message goes on.
    pub fn allowed(&mut self, kind: u8) {
        self.settled = true;
        self.passed(kind);
    }

    /// The charge refused the unit that `kind` starts: answers it (see the module's doc).
    pub fn refused(&mut self, kind: u8, rule: &str, retry_after: Duration, relay: &mut Relay) {
        protocol::put_error_detail(
            &mut relay.to_client,
            "ERROR",
            "53400",
            &format!("rate limit \"{rule}\" exceeded"),
            &format!(
                "Retry after {:.3} s. brisk charges each transaction to the limits that apply to it.",
                retry_after.as_secs_f64()
            ),
        );
        if matches!(kind, b'Q' | b'F') {
            let status = relay.status().byte();
            protocol::put_ready_for_query(&mut relay.to_client, status);
        } else {
            self.refusing = true;
        }
    }

    fn passed(&mut self, kind: u8) {
        if kind == b'S' {
            self.in_batch = false;
            self.settled = false;
        } else if in_extended_batch(kind) {
            self.in_batch = true;
        }
    }
}

/// The text of the statement a unit starts with, when its first message says.
fn first_statement(
    kind: u8,
    body: &[u8],
    relay: &Relay,
) -> Result<Option<std::sync::Arc<str>>, ProtocolError> {
    Ok(match kind {
        b'Q' => Some(protocol::decode_query(body)?.into()),
        b'P' => Some(protocol::decode_parse(body)?.query.into()),
        b'B' => relay.statement_text(protocol::decode_bind(body)?.statement),
        // An Execute runs the portal's statement; the unnamed statement is the usual one.
        b'E' => relay.statement_text(""),
        _ => None,
    })
}

/// The statement's key as the statistics compute it, so a rule's `fingerprint` is the one
/// `SHOW QUERIES` prints.
fn fingerprint_of(text: &str) -> u64 {
    thread_local! {
        static CACHE: std::cell::RefCell<brisk_sql::FingerprintCache> =
            std::cell::RefCell::new(brisk_sql::FingerprintCache::new(1024));
    }
    CACHE.with(|cache| cache.borrow_mut().key(text).value)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn batch(kinds: &[u8]) -> Vec<u8> {
        let mut out = bytes::BytesMut::new();
        for kind in kinds {
            protocol::put_message(&mut out, *kind, b"x\0");
        }
        out.to_vec()
    }

    #[test]
    fn a_batch_executes_when_an_execute_comes_before_its_sync() {
        assert!(batch_executes(&batch(b"PBDES")));
        assert!(batch_executes(&batch(b"BES")));
        // Drivers' prepare round trip, and a describe-only batch: no work.
        assert!(!batch_executes(&batch(b"PDS")));
        assert!(!batch_executes(&batch(b"PDSBES")));
        // Parse and Flush, with the rest still to come: not known to execute yet.
        assert!(!batch_executes(&batch(b"PH")));
        // A cut-off message is not read.
        let whole = batch(b"PE");
        assert!(!batch_executes(&whole[..whole.len() - 1]));
    }
}
