//! Sealed values across tables: the registry of sealed columns that data-key
//! rotation (`lettuce keys rotate`) walks through
//! `MetadataStore::list_sealed` / `reseal`.
//!
//! **Adding a table or column that holds data sealed with the data key?**
//! Add its name to `lettuce_ports::store::sealed_columns`, to
//! [`SEALED_COLUMNS`] below (kept sorted), and a lister and a
//! compare-and-swap updater to the three `match`es in this file — and the
//! same to `MemoryStore` in `ports/src/testing/store.rs`. The store contract
//! (`sealed_contract`) and the engine's rotation tests then cover it.

use crate::SeaOrmStore;
use crate::entity::{instance_setting, provider_installation as inst, repo};
use lettuce_ports::store::{SealedRef, SealedValue, StoreError, sealed_columns};
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder, QuerySelect};
use uuid::Uuid;

/// Every sealed column of this store, in `SealedRef` (byte) order.
pub(crate) const SEALED_COLUMNS: &[&str] = &[
    sealed_columns::LICENSE_UPLOAD,
    sealed_columns::INSTALLATION_CREDENTIALS,
    sealed_columns::REPO_CREDENTIALS,
];

/// Parses an installation row key (`<account id>/<provider>`).
fn installation_key(row: &str) -> Option<(Uuid, String)> {
    let (account, provider) = row.split_once('/')?;
    Some((Uuid::parse_str(account).ok()?, provider.to_owned()))
}

impl SeaOrmStore {
    pub(crate) async fn sealed_count(&self) -> Result<u64, StoreError> {
        let mut total = 0;
        for column in SEALED_COLUMNS {
            total += match *column {
                sealed_columns::REPO_CREDENTIALS => repo::Entity::find()
                    .filter(repo::Column::SealedCredentials.is_not_null())
                    .count(&self.conn())
                    .await
                    .map_err(|e| self.err("repo", "repo", e))?,
                sealed_columns::LICENSE_UPLOAD => self.sealed_settings(None).await?.len() as u64,
                sealed_columns::INSTALLATION_CREDENTIALS => inst::Entity::find()
                    .filter(inst::Column::SealedCredentials.is_not_null())
                    .count(&self.conn())
                    .await
                    .map_err(|e| self.err("installation", "installation", e))?,
                other => unreachable!("sealed column {other} has no counter"),
            };
        }
        Ok(total)
    }

    pub(crate) async fn sealed_page(
        &self,
        after: Option<&SealedRef>,
        limit: usize,
    ) -> Result<Vec<SealedValue>, StoreError> {
        let mut out = Vec::new();
        for column in SEALED_COLUMNS {
            if out.len() >= limit {
                break;
            }
            let after_row = match after {
                Some(a) if a.column.as_str() > *column => continue,
                Some(a) if a.column.as_str() == *column => Some(a.row.as_str()),
                _ => None,
            };
            let want = limit - out.len();
            match *column {
                sealed_columns::REPO_CREDENTIALS => {
                    let mut q = repo::Entity::find()
                        .select_only()
                        .column(repo::Column::Id)
                        .column(repo::Column::SealedCredentials)
                        .filter(repo::Column::SealedCredentials.is_not_null());
                    if let Some(row) = after_row {
                        // Rows are keyed by uuid; its text and byte orders agree.
                        let id = Uuid::parse_str(row).map_err(|_| {
                            crate::error::backend_msg(self.backend, format!("list_sealed: `{row}` is not a repo id"))
                        })?;
                        q = q.filter(repo::Column::Id.gt(id));
                    }
                    let rows: Vec<(Uuid, Option<String>)> = q
                        .order_by_asc(repo::Column::Id)
                        .limit(want as u64)
                        .into_tuple()
                        .all(&self.conn())
                        .await
                        .map_err(|e| self.err("repo", "repo", e))?;
                    out.extend(rows.into_iter().filter_map(|(id, sealed)| {
                        Some(SealedValue {
                            at: SealedRef {
                                column: column.to_string(),
                                row: id.to_string(),
                            },
                            sealed: sealed?,
                        })
                    }));
                }
                sealed_columns::LICENSE_UPLOAD => {
                    out.extend(self.sealed_settings(after_row).await?.into_iter().take(want));
                }
                sealed_columns::INSTALLATION_CREDENTIALS => {
                    use sea_orm::Condition;
                    let mut q = inst::Entity::find()
                        .select_only()
                        .column(inst::Column::AccountId)
                        .column(inst::Column::Provider)
                        .column(inst::Column::SealedCredentials)
                        .filter(inst::Column::SealedCredentials.is_not_null());
                    if let Some(row) = after_row {
                        let (account, provider) = installation_key(row).ok_or_else(|| {
                            crate::error::backend_msg(
                                self.backend,
                                format!("list_sealed: `{row}` is not an installation key"),
                            )
                        })?;
                        q = q.filter(
                            Condition::any().add(inst::Column::AccountId.gt(account)).add(
                                Condition::all()
                                    .add(inst::Column::AccountId.eq(account))
                                    .add(inst::Column::Provider.gt(provider)),
                            ),
                        );
                    }
                    let rows: Vec<(Uuid, String, Option<String>)> = q
                        .order_by_asc(inst::Column::AccountId)
                        .order_by_asc(inst::Column::Provider)
                        .limit(want as u64)
                        .into_tuple()
                        .all(&self.conn())
                        .await
                        .map_err(|e| self.err("installation", "installation", e))?;
                    out.extend(rows.into_iter().filter_map(|(account, provider, sealed)| {
                        Some(SealedValue {
                            at: SealedRef {
                                column: column.to_string(),
                                row: sealed_columns::installation_row(lettuce_domain::AccountId(account), &provider),
                            },
                            sealed: sealed?,
                        })
                    }));
                }
                other => unreachable!("sealed column {other} has no lister"),
            }
        }
        Ok(out)
    }

    /// The sealed `sealed_key` fields of the registered JSON settings, by key.
    async fn sealed_settings(&self, after_row: Option<&str>) -> Result<Vec<SealedValue>, StoreError> {
        let mut keys: Vec<&str> = sealed_columns::SEALED_SETTING_KEYS.to_vec();
        keys.sort_unstable();
        let mut out = Vec::new();
        for key in keys.into_iter().filter(|k| after_row.is_none_or(|a| *k > a)) {
            if let Some(sealed) = self.setting(key).await?.and_then(|j| sealed_columns::setting_field(&j)) {
                out.push(SealedValue {
                    at: SealedRef {
                        column: sealed_columns::LICENSE_UPLOAD.to_owned(),
                        row: key.to_owned(),
                    },
                    sealed,
                });
            }
        }
        Ok(out)
    }

    pub(crate) async fn reseal_one(&self, at: &SealedRef, old: &str, new: &str) -> Result<bool, StoreError> {
        match at.column.as_str() {
            sealed_columns::REPO_CREDENTIALS => {
                let Ok(id) = Uuid::parse_str(&at.row) else {
                    return Ok(false);
                };
                let res = repo::Entity::update_many()
                    .col_expr(repo::Column::SealedCredentials, Expr::value(new.to_owned()))
                    .filter(repo::Column::Id.eq(id))
                    .filter(repo::Column::SealedCredentials.eq(old.to_owned()))
                    .exec(&self.conn())
                    .await
                    .map_err(|e| self.err("repo", "repo", e))?;
                Ok(res.rows_affected == 1)
            }
            sealed_columns::INSTALLATION_CREDENTIALS => {
                let Some((account, provider)) = installation_key(&at.row) else {
                    return Ok(false);
                };
                let res = inst::Entity::update_many()
                    .col_expr(inst::Column::SealedCredentials, Expr::value(new.to_owned()))
                    .filter(inst::Column::AccountId.eq(account))
                    .filter(inst::Column::Provider.eq(provider))
                    .filter(inst::Column::SealedCredentials.eq(old.to_owned()))
                    .exec(&self.conn())
                    .await
                    .map_err(|e| self.err("installation", "installation", e))?;
                Ok(res.rows_affected == 1)
            }
            sealed_columns::LICENSE_UPLOAD if sealed_columns::SEALED_SETTING_KEYS.contains(&at.row.as_str()) => {
                let Some(json) = self.setting(&at.row).await? else {
                    return Ok(false);
                };
                let Some(updated) = sealed_columns::replace_setting_field(&json, old, new) else {
                    return Ok(false);
                };
                let res = instance_setting::Entity::update_many()
                    .col_expr(instance_setting::Column::Value, Expr::value(updated))
                    .filter(instance_setting::Column::Key.eq(at.row.clone()))
                    .filter(instance_setting::Column::Value.eq(json))
                    .exec(&self.conn())
                    .await
                    .map_err(|e| self.err("setting", "setting", e))?;
                Ok(res.rows_affected == 1)
            }
            _ => Ok(false),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registry_is_sorted_and_complete() {
        let mut sorted = SEALED_COLUMNS.to_vec();
        sorted.sort_unstable();
        assert_eq!(sorted, SEALED_COLUMNS, "SEALED_COLUMNS must be in SealedRef order");
        for c in [
            sealed_columns::REPO_CREDENTIALS,
            sealed_columns::LICENSE_UPLOAD,
            sealed_columns::INSTALLATION_CREDENTIALS,
        ] {
            assert!(SEALED_COLUMNS.contains(&c), "{c} is not registered");
        }
    }
}
