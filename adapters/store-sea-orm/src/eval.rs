//! Eval runs (`eval_runs`): one latest run per repo.

use crate::SeaOrmStore;
use crate::entity::eval_run;
use crate::error::backend_msg;
use lettuce_domain::eval::{EvalReport, EvalRun, EvalStatus};
use lettuce_domain::{AccountId, RepoId};
use lettuce_ports::store::StoreError;
use sea_orm::ActiveValue::Set;
use sea_orm::sea_query::{Expr, ExprTrait, OnConflict};
use sea_orm::{DbErr, EntityTrait};

/// Every column but the key, as `ON CONFLICT` updates them.
const UPDATED: [eval_run::Column; 10] = [
    eval_run::Column::AccountId,
    eval_run::Column::Status,
    eval_run::Column::Commits,
    eval_run::Column::Done,
    eval_run::Column::Total,
    eval_run::Column::QueuedAt,
    eval_run::Column::StartedAt,
    eval_run::Column::FinishedAt,
    eval_run::Column::Error,
    eval_run::Column::Report,
];

impl SeaOrmStore {
    fn eval_row(&self, run: &EvalRun) -> Result<eval_run::ActiveModel, StoreError> {
        let report = run
            .report
            .as_ref()
            .map(serde_json::to_string)
            .transpose()
            .map_err(|e| backend_msg(self.backend, format!("eval report is not serialisable: {e}")))?;
        Ok(eval_run::ActiveModel {
            repo_id: Set(run.repo_id.0),
            account_id: Set(run.account_id.0),
            status: Set(run.status.as_str().to_owned()),
            commits: Set(i64::from(run.commits)),
            done: Set(i64::from(run.done)),
            total: Set(i64::from(run.total)),
            queued_at: Set(run.queued_at),
            started_at: Set(run.started_at),
            finished_at: Set(run.finished_at),
            error: Set(run.error.clone()),
            report: Set(report),
        })
    }

    fn eval_from(&self, m: eval_run::Model) -> Result<EvalRun, StoreError> {
        let status = EvalStatus::parse(&m.status)
            .ok_or_else(|| backend_msg(self.backend, format!("eval_runs.status `{}` is unknown", m.status)))?;
        let report = m
            .report
            .as_deref()
            .map(serde_json::from_str::<EvalReport>)
            .transpose()
            .map_err(|e| backend_msg(self.backend, format!("eval_runs.report is not a report: {e}")))?;
        let count = |v: i64| u32::try_from(v).unwrap_or_default();
        Ok(EvalRun {
            repo_id: RepoId(m.repo_id),
            account_id: AccountId(m.account_id),
            status,
            commits: count(m.commits),
            done: count(m.done),
            total: count(m.total),
            queued_at: m.queued_at,
            started_at: m.started_at,
            finished_at: m.finished_at,
            error: m.error,
            report,
        })
    }

    /// Inserts the run or replaces the repo's finished one, in one
    /// statement (`ON CONFLICT … DO UPDATE … WHERE status NOT IN (queued,
    /// running)`), so two concurrent starts cannot both win.
    pub(crate) async fn eval_start(&self, run: &EvalRun) -> Result<(), StoreError> {
        let row = self.eval_row(run)?;
        let active = [EvalStatus::Queued.as_str(), EvalStatus::Running.as_str()];
        let res = eval_run::Entity::insert(row)
            .on_conflict(
                OnConflict::column(eval_run::Column::RepoId)
                    .update_columns(UPDATED)
                    .action_and_where(Expr::col((eval_run::Entity, eval_run::Column::Status)).is_not_in(active))
                    .to_owned(),
            )
            .exec_without_returning(&self.conn())
            .await;
        match res {
            Ok(n) if n > 0 => Ok(()),
            Ok(_) | Err(DbErr::RecordNotInserted) => Err(StoreError::Conflict {
                entity: "eval_run",
                detail: "an eval of this repo is queued or running".into(),
            }),
            Err(e) => Err(self.err("eval_run", "repo", e)),
        }
    }

    pub(crate) async fn eval_put(&self, run: &EvalRun) -> Result<(), StoreError> {
        let row = self.eval_row(run)?;
        eval_run::Entity::insert(row)
            .on_conflict(
                OnConflict::column(eval_run::Column::RepoId)
                    .update_columns(UPDATED)
                    .to_owned(),
            )
            .exec_without_returning(&self.conn())
            .await
            .map_err(|e| self.err("eval_run", "repo", e))?;
        Ok(())
    }

    pub(crate) async fn eval_get(&self, repo: RepoId) -> Result<Option<EvalRun>, StoreError> {
        eval_run::Entity::find_by_id(repo.0)
            .one(&self.conn())
            .await
            .map_err(|e| self.err("eval_run", "eval_run", e))?
            .map(|m| self.eval_from(m))
            .transpose()
    }
}
