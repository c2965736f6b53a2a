//! One server or a cluster, behind the few operations the store needs.
//!
//! A cluster only pipelines commands whose keys hash to one slot, so a batch is split by
//! slot, the per-slot pipelines run at once, and the replies are put back in order.

use std::collections::HashMap;

use futures_util::future::try_join_all;
use redis::aio::ConnectionManager;
use redis::cluster_async::ClusterConnection;
use redis::cluster_routing::Slot;
use redis::{Cmd, FromRedisValue, RedisResult, Value};

#[derive(Clone)]
pub(crate) enum Backend {
    /// Reconnects by itself after a lost connection.
    Single(ConnectionManager),
    /// Learns the slot map and follows MOVED/ASK redirections by itself.
    Cluster(ClusterConnection),
}

impl Backend {
    pub async fn query<T: FromRedisValue>(&self, cmd: &Cmd) -> RedisResult<T> {
        match self {
            Backend::Single(conn) => cmd.query_async(&mut conn.clone()).await,
            Backend::Cluster(conn) => cmd.query_async(&mut conn.clone()).await,
        }
    }

    /// Runs `cmds` (each with the key that routes it) as pipelines and returns one reply
    /// per command, in order. Errors of single commands stay in place as
    /// `Value::ServerError`.
    pub async fn pipeline(&self, cmds: Vec<(Vec<u8>, Cmd)>) -> RedisResult<Vec<Value>> {
        if cmds.is_empty() {
            return Ok(Vec::new());
        }
        match self {
            Backend::Single(conn) => {
                let mut pipe = redis::pipe();
                for (_, cmd) in cmds {
                    pipe.add_command(cmd);
                }
                pipe.ignore_errors();
                pipe.query_async(&mut conn.clone()).await
            }
            Backend::Cluster(conn) => {
                let total = cmds.len();
                let mut by_slot: HashMap<Slot, (Vec<usize>, redis::Pipeline)> = HashMap::new();
                for (i, (key, cmd)) in cmds.into_iter().enumerate() {
                    let (positions, pipe) = by_slot
                        .entry(Slot::for_key(&key))
                        .or_insert_with(|| (Vec::new(), redis::pipe()));
                    positions.push(i);
                    pipe.add_command(cmd);
                }
                let runs = by_slot.into_values().map(|(positions, mut pipe)| {
                    let mut conn = conn.clone();
                    async move {
                        pipe.ignore_errors();
                        let replies: Vec<Value> = pipe.query_async(&mut conn).await?;
                        Ok::<_, redis::RedisError>((positions, replies))
                    }
                });
                let mut out = vec![Value::Nil; total];
                for (positions, replies) in try_join_all(runs).await? {
                    for (i, reply) in positions.into_iter().zip(replies) {
                        out[i] = reply;
                    }
                }
                Ok(out)
            }
        }
    }
}
