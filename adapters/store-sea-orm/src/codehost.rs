//! Code hosts: installations, single-use keys, repo links and webhook
//! deliveries (`provider_installations`, `used_once`, `repo_links`,
//! `webhook_deliveries`).

use crate::SeaOrmStore;
use crate::entity::{provider_installation as inst, repo_link, used_once, webhook_delivery as delivery};
use crate::error::backend_msg;
use chrono::{DateTime, Utc};
use lettuce_domain::codehost::{DeliveryOutcome, FreshnessMode, Installation, RepoLink, WebhookDelivery};
use lettuce_domain::{AccountId, RepoId, UserId};
use lettuce_ports::store::StoreError;
use sea_orm::ActiveValue::Set;
use sea_orm::sea_query::OnConflict;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect, TryInsertResult};
use uuid::Uuid;

impl SeaOrmStore {
    fn installation_from(&self, m: inst::Model) -> Result<Installation, StoreError> {
        let scopes: Vec<String> = serde_json::from_str(&m.scopes).map_err(|e| {
            backend_msg(
                self.backend,
                format!("provider_installations.scopes is not a JSON list: {e}"),
            )
        })?;
        Ok(Installation {
            account_id: AccountId(m.account_id),
            provider: m.provider,
            external_id: m.external_id,
            connected_by: UserId(m.connected_by),
            connected_at: m.connected_at,
            scopes,
            needs_reauth: m.needs_reauth,
            sealed_credentials: m.sealed_credentials,
            credentials: None,
        })
    }

    pub(crate) async fn installation_put(&self, i: &Installation) -> Result<(), StoreError> {
        use inst::Column as C;
        let scopes = serde_json::to_string(&i.scopes).map_err(|e| backend_msg(self.backend, e.to_string()))?;
        let row = inst::ActiveModel {
            account_id: Set(i.account_id.0),
            provider: Set(i.provider.clone()),
            external_id: Set(i.external_id.clone()),
            connected_by: Set(i.connected_by.0),
            connected_at: Set(i.connected_at),
            scopes: Set(scopes),
            needs_reauth: Set(i.needs_reauth),
            sealed_credentials: Set(i.sealed_credentials.clone()),
        };
        inst::Entity::insert(row)
            .on_conflict(
                OnConflict::columns([C::AccountId, C::Provider])
                    .update_columns([
                        C::ExternalId,
                        C::ConnectedBy,
                        C::ConnectedAt,
                        C::Scopes,
                        C::NeedsReauth,
                        C::SealedCredentials,
                    ])
                    .to_owned(),
            )
            .exec_without_returning(&self.conn())
            .await
            .map_err(|e| self.err("installation", "account", e))?;
        Ok(())
    }

    pub(crate) async fn installation_get(
        &self,
        account: AccountId,
        provider: &str,
    ) -> Result<Option<Installation>, StoreError> {
        inst::Entity::find_by_id((account.0, provider.to_owned()))
            .one(&self.conn())
            .await
            .map_err(|e| self.err("installation", "installation", e))?
            .map(|m| self.installation_from(m))
            .transpose()
    }

    pub(crate) async fn installations_of(&self, account: AccountId) -> Result<Vec<Installation>, StoreError> {
        inst::Entity::find()
            .filter(inst::Column::AccountId.eq(account.0))
            .order_by_asc(inst::Column::Provider)
            .all(&self.conn())
            .await
            .map_err(|e| self.err("installation", "installation", e))?
            .into_iter()
            .map(|m| self.installation_from(m))
            .collect()
    }

    pub(crate) async fn installation_delete(&self, account: AccountId, provider: &str) -> Result<bool, StoreError> {
        let res = inst::Entity::delete_many()
            .filter(inst::Column::AccountId.eq(account.0))
            .filter(inst::Column::Provider.eq(provider.to_owned()))
            .exec(&self.conn())
            .await
            .map_err(|e| self.err("installation", "installation", e))?;
        Ok(res.rows_affected > 0)
    }

    pub(crate) async fn once(
        &self,
        scope: &str,
        key: &str,
        expires_at: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        used_once::Entity::delete_many()
            .filter(used_once::Column::ExpiresAt.lt(now))
            .exec(&self.conn())
            .await
            .map_err(|e| self.err("used_once", "used_once", e))?;
        let row = used_once::ActiveModel {
            scope: Set(scope.to_owned()),
            key: Set(key.to_owned()),
            expires_at: Set(expires_at),
        };
        // Insert-or-ignore: exactly one concurrent caller inserts the row.
        let inserted = used_once::Entity::insert(row)
            .on_conflict_do_nothing_on([used_once::Column::Scope, used_once::Column::Key])
            .exec_without_returning(&self.conn())
            .await
            .map_err(|e| self.err("used_once", "used_once", e))?;
        Ok(matches!(inserted, TryInsertResult::Inserted(n) if n > 0))
    }

    fn link_from(m: repo_link::Model) -> RepoLink {
        RepoLink {
            repo_id: RepoId(m.repo_id),
            account_id: AccountId(m.account_id),
            provider: m.provider,
            provider_repo_id: m.provider_repo_id,
            full_name: m.full_name,
            branch: m.branch,
            hook_id: m.hook_id,
            hook_error: m.hook_error,
            updated_at: m.updated_at,
            mode: FreshnessMode::parse(&m.mode),
            checked_at: m.checked_at,
            check_note: m.check_note,
            remote_head: m.remote_head,
        }
    }

    pub(crate) async fn link_put(&self, l: &RepoLink) -> Result<(), StoreError> {
        use repo_link::Column as C;
        let row = repo_link::ActiveModel {
            repo_id: Set(l.repo_id.0),
            account_id: Set(l.account_id.0),
            provider: Set(l.provider.clone()),
            provider_repo_id: Set(l.provider_repo_id.clone()),
            full_name: Set(l.full_name.clone()),
            branch: Set(l.branch.clone()),
            hook_id: Set(l.hook_id.clone()),
            hook_error: Set(l.hook_error.clone()),
            updated_at: Set(l.updated_at),
            mode: Set(l.mode.as_str().to_owned()),
            checked_at: Set(l.checked_at),
            check_note: Set(l.check_note.clone()),
            remote_head: Set(l.remote_head.clone()),
        };
        repo_link::Entity::insert(row)
            .on_conflict(
                OnConflict::column(C::RepoId)
                    .update_columns([
                        C::AccountId,
                        C::Provider,
                        C::ProviderRepoId,
                        C::FullName,
                        C::Branch,
                        C::HookId,
                        C::HookError,
                        C::UpdatedAt,
                        C::Mode,
                        C::CheckedAt,
                        C::CheckNote,
                        C::RemoteHead,
                    ])
                    .to_owned(),
            )
            .exec_without_returning(&self.conn())
            .await
            .map_err(|e| self.err("repo_link", "repo", e))?;
        Ok(())
    }

    pub(crate) async fn link_get(&self, repo: RepoId) -> Result<Option<RepoLink>, StoreError> {
        Ok(repo_link::Entity::find_by_id(repo.0)
            .one(&self.conn())
            .await
            .map_err(|e| self.err("repo_link", "repo_link", e))?
            .map(Self::link_from))
    }

    pub(crate) async fn links_of(&self, account: AccountId, provider: &str) -> Result<Vec<RepoLink>, StoreError> {
        let q = repo_link::Entity::find()
            .filter(repo_link::Column::AccountId.eq(account.0))
            .filter(repo_link::Column::Provider.eq(provider.to_owned()));
        self.links(q, None).await
    }

    pub(crate) async fn links_page(&self, after: Option<RepoId>, limit: usize) -> Result<Vec<RepoLink>, StoreError> {
        let mut q = repo_link::Entity::find();
        if let Some(a) = after {
            q = q.filter(repo_link::Column::RepoId.gt(a.0));
        }
        self.links(q, Some(limit)).await
    }

    /// The links `q` selects, by repo id, at most `limit`.
    async fn links(
        &self,
        q: sea_orm::Select<repo_link::Entity>,
        limit: Option<usize>,
    ) -> Result<Vec<RepoLink>, StoreError> {
        Ok(q.order_by_asc(repo_link::Column::RepoId)
            .limit(limit.map(|l| l as u64))
            .all(&self.conn())
            .await
            .map_err(|e| self.err("repo_link", "repo_link", e))?
            .into_iter()
            .map(Self::link_from)
            .collect())
    }

    pub(crate) async fn delivery_put(&self, d: &WebhookDelivery) -> Result<(), StoreError> {
        let row = delivery::ActiveModel {
            id: Set(Uuid::now_v7()),
            repo_id: Set(d.repo_id.0),
            at: Set(d.at),
            event: Set(d.event.clone()),
            delivery_id: Set(d.delivery_id.clone()),
            outcome: Set(d.outcome.as_str().to_owned()),
            detail: Set(d.detail.clone()),
        };
        delivery::Entity::insert(row)
            .exec_without_returning(&self.conn())
            .await
            .map_err(|e| self.err("webhook_delivery", "repo", e))?;
        Ok(())
    }

    pub(crate) async fn deliveries_of(&self, repo: RepoId, limit: usize) -> Result<Vec<WebhookDelivery>, StoreError> {
        delivery::Entity::find()
            .filter(delivery::Column::RepoId.eq(repo.0))
            .order_by_desc(delivery::Column::At)
            .order_by_desc(delivery::Column::Id)
            .limit(limit as u64)
            .all(&self.conn())
            .await
            .map_err(|e| self.err("webhook_delivery", "webhook_delivery", e))?
            .into_iter()
            .map(|m| {
                let outcome = DeliveryOutcome::parse(&m.outcome).ok_or_else(|| {
                    backend_msg(
                        self.backend,
                        format!("webhook_deliveries.outcome `{}` is unknown", m.outcome),
                    )
                })?;
                Ok(WebhookDelivery {
                    repo_id: RepoId(m.repo_id),
                    at: m.at,
                    event: m.event,
                    delivery_id: m.delivery_id,
                    outcome,
                    detail: m.detail,
                })
            })
            .collect()
    }
}
