//! ListTransactions (key 66): transactional ids with their producer and state,
//! filtered by state names, producer ids, how long they have been open (v1) and
//! an id pattern (v2).

use kafka_protocol::messages::list_transactions_response::TransactionState;
use kafka_protocol::messages::{ListTransactionsRequest, ListTransactionsResponse, ProducerId, TransactionalId};
use kafka_protocol::ResponseError;

use super::{str_bytes, RequestContext};
use crate::auth::{Operation, Resource};
use crate::txn::TxnState;

const STATES: [TxnState; 8] = [
    TxnState::Empty,
    TxnState::Ongoing,
    TxnState::PrepareCommit,
    TxnState::PrepareAbort,
    TxnState::CompleteCommit,
    TxnState::CompleteAbort,
    TxnState::Dead,
    TxnState::PrepareEpochFence,
];

pub fn handle(ctx: &RequestContext, req: ListTransactionsRequest) -> ListTransactionsResponse {
    let wanted: Vec<String> = req.state_filters.iter().map(|s| s.to_string()).collect();
    let unknown: Vec<_> =
        req.state_filters.iter().filter(|s| !STATES.iter().any(|k| k.name() == s.as_str())).cloned().collect();
    let pids: Vec<i64> = req.producer_id_filters.iter().map(|p| p.0).collect();
    let pattern = match req.transactional_id_pattern.as_deref().filter(|p| !p.is_empty()) {
        Some(p) => match regex::Regex::new(&format!("^(?:{p})$")) {
            Ok(re) => Some(re),
            Err(_) => {
                return ListTransactionsResponse::default()
                    .with_error_code(ResponseError::InvalidRegularExpression.code())
            }
        },
        None => None,
    };
    let now = ctx.broker.clock().now_ms();
    let states = ctx
        .broker
        .txn()
        .list(&wanted, &pids)
        .into_iter()
        .filter(|d| req.duration_filter < 0 || (d.start_ms >= 0 && now - d.start_ms >= req.duration_filter))
        .filter(|d| pattern.as_ref().is_none_or(|re| re.is_match(&d.transactional_id)))
        .filter(|d| ctx.authorize(Operation::Describe, Resource::TransactionalId(&d.transactional_id)))
        .map(|d| {
            TransactionState::default()
                .with_transactional_id(TransactionalId(str_bytes(d.transactional_id)))
                .with_producer_id(ProducerId(d.producer_id))
                .with_transaction_state(str_bytes(d.state.name()))
        })
        .collect();
    ListTransactionsResponse::default().with_unknown_state_filters(unknown).with_transaction_states(states)
}
