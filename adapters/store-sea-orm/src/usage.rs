//! Usage metering on `usage_hourly` and `usage_tool_hourly`: an
//! incrementing, saturating upsert per (account, hour[, tool]), so concurrent
//! writers in any number of processes never lose counts.

use crate::SeaOrmStore;
use crate::convert::{to_i64, to_u64};
use crate::entity::{usage_hourly, usage_tool_hourly};
use chrono::{DateTime, Duration, Utc};
use lettuce_domain::AccountId;
use lettuce_ports::store::{StoreError, ToolUsage, UsageBucket, UsageCounters, sum_tool_usage, usage_hour};
use sea_orm::ActiveValue::Set;
use sea_orm::sea_query::{Expr, OnConflict};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder};

/// `table.col + excluded.col`, saturating at `i64::MAX` (both operands are
/// never negative, so `MAX - excluded.col` cannot overflow). Valid on SQLite
/// (≥ 3.24) and PostgreSQL.
fn saturating_increment(table: &str, col: &str) -> Expr {
    const MAX: i64 = i64::MAX;
    Expr::cust(format!(
        "CASE WHEN {table}.{col} > {MAX} - excluded.{col} THEN {MAX} ELSE {table}.{col} + excluded.{col} END"
    ))
}

/// The first whole hour at or after `t` (bucket hours are whole hours, so
/// `hour >= t` ⟺ `hour >= ceil_hour(t)`; comparing whole hours only keeps
/// text-encoded timestamps on SQLite comparable).
fn ceil_hour(t: DateTime<Utc>) -> DateTime<Utc> {
    let floor = usage_hour(t);
    if floor == t { floor } else { floor + Duration::hours(1) }
}

impl SeaOrmStore {
    pub(crate) async fn add_usage_row(
        &self,
        account: AccountId,
        at: DateTime<Utc>,
        delta: UsageCounters,
    ) -> Result<(), StoreError> {
        use usage_hourly::Column as C;
        let row = usage_hourly::ActiveModel {
            account_id: Set(account.0),
            hour: Set(usage_hour(at)),
            queries: Set(to_i64(delta.queries)),
            tokens_returned: Set(to_i64(delta.tokens_returned)),
            tokens_full: Set(to_i64(delta.tokens_full)),
            tokens_saved: Set(to_i64(delta.tokens_saved)),
        };
        let on_conflict = OnConflict::columns([C::AccountId, C::Hour])
            .value(C::Queries, saturating_increment("usage_hourly", "queries"))
            .value(
                C::TokensReturned,
                saturating_increment("usage_hourly", "tokens_returned"),
            )
            .value(C::TokensFull, saturating_increment("usage_hourly", "tokens_full"))
            .value(C::TokensSaved, saturating_increment("usage_hourly", "tokens_saved"))
            .to_owned();
        usage_hourly::Entity::insert(row)
            .on_conflict(on_conflict)
            .exec_without_returning(&self.conn())
            .await
            .map_err(|e| self.err("usage", "account", e))?;
        Ok(())
    }

    pub(crate) async fn usage_rows(
        &self,
        account: Option<AccountId>,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<UsageBucket>, StoreError> {
        use usage_hourly::Column as C;
        let (from, to) = (ceil_hour(from), ceil_hour(to));
        if from >= to {
            return Ok(Vec::new());
        }
        let mut query = usage_hourly::Entity::find()
            .filter(C::Hour.gte(from))
            .filter(C::Hour.lt(to));
        if let Some(account) = account {
            query = query.filter(C::AccountId.eq(account.0));
        }
        let rows = query
            .order_by_asc(C::Hour)
            .order_by_asc(C::AccountId)
            .all(&self.conn())
            .await
            .map_err(|e| self.err("usage", "usage", e))?;
        Ok(rows
            .into_iter()
            .map(|m| UsageBucket {
                account_id: AccountId(m.account_id),
                hour: m.hour,
                counters: UsageCounters {
                    queries: to_u64(m.queries),
                    tokens_returned: to_u64(m.tokens_returned),
                    tokens_full: to_u64(m.tokens_full),
                    tokens_saved: to_u64(m.tokens_saved),
                },
            })
            .collect())
    }
}

impl SeaOrmStore {
    pub(crate) async fn add_tool_usage_row(
        &self,
        account: AccountId,
        at: DateTime<Utc>,
        tool: &str,
        delta: UsageCounters,
    ) -> Result<(), StoreError> {
        use usage_tool_hourly::Column as C;
        const T: &str = "usage_tool_hourly";
        let row = usage_tool_hourly::ActiveModel {
            account_id: Set(account.0),
            hour: Set(usage_hour(at)),
            tool: Set(tool.to_owned()),
            queries: Set(to_i64(delta.queries)),
            tokens_returned: Set(to_i64(delta.tokens_returned)),
            tokens_full: Set(to_i64(delta.tokens_full)),
            tokens_saved: Set(to_i64(delta.tokens_saved)),
        };
        let on_conflict = OnConflict::columns([C::AccountId, C::Hour, C::Tool])
            .value(C::Queries, saturating_increment(T, "queries"))
            .value(C::TokensReturned, saturating_increment(T, "tokens_returned"))
            .value(C::TokensFull, saturating_increment(T, "tokens_full"))
            .value(C::TokensSaved, saturating_increment(T, "tokens_saved"))
            .to_owned();
        usage_tool_hourly::Entity::insert(row)
            .on_conflict(on_conflict)
            .exec_without_returning(&self.conn())
            .await
            .map_err(|e| self.err("usage", "account", e))?;
        Ok(())
    }

    pub(crate) async fn tool_usage_rows(
        &self,
        account: AccountId,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<ToolUsage>, StoreError> {
        use usage_tool_hourly::Column as C;
        let (from, to) = (ceil_hour(from), ceil_hour(to));
        if from >= to {
            return Ok(Vec::new());
        }
        let rows = usage_tool_hourly::Entity::find()
            .filter(C::AccountId.eq(account.0))
            .filter(C::Hour.gte(from))
            .filter(C::Hour.lt(to))
            .all(&self.conn())
            .await
            .map_err(|e| self.err("usage", "usage", e))?;
        Ok(sum_tool_usage(rows.iter().map(|m| {
            let c = UsageCounters {
                queries: to_u64(m.queries),
                tokens_returned: to_u64(m.tokens_returned),
                tokens_full: to_u64(m.tokens_full),
                tokens_saved: to_u64(m.tokens_saved),
            };
            (m.tool.as_str(), c)
        })))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ceil_hour_rounds_up_to_whole_hours() {
        let h: DateTime<Utc> = "2026-03-01T10:00:00Z".parse().unwrap();
        assert_eq!(ceil_hour(h), h);
        assert_eq!(ceil_hour(h + Duration::nanoseconds(1)), h + Duration::hours(1));
        assert_eq!(ceil_hour(h - Duration::minutes(59)), h);
    }
}
