//! Instance settings on `instance_settings`: upserts for `put`, insert-or-
//! ignore then read for `init`, so concurrent processes agree on one value.

use crate::SeaOrmStore;
use crate::entity::instance_setting;
use lettuce_ports::store::StoreError;
use sea_orm::ActiveValue::Set;
use sea_orm::EntityTrait;
use sea_orm::sea_query::OnConflict;

fn row(key: &str, value: &str) -> instance_setting::ActiveModel {
    instance_setting::ActiveModel {
        key: Set(key.to_owned()),
        value: Set(value.to_owned()),
    }
}

impl SeaOrmStore {
    pub(crate) async fn setting(&self, key: &str) -> Result<Option<String>, StoreError> {
        Ok(instance_setting::Entity::find_by_id(key.to_owned())
            .one(&self.db)
            .await
            .map_err(|e| self.err("setting", "setting", e))?
            .map(|m| m.value))
    }

    pub(crate) async fn upsert_setting(&self, key: &str, value: &str) -> Result<(), StoreError> {
        use instance_setting::Column as C;
        instance_setting::Entity::insert(row(key, value))
            .on_conflict(OnConflict::column(C::Key).update_column(C::Value).to_owned())
            .exec_without_returning(&self.db)
            .await
            .map_err(|e| self.err("setting", "setting", e))?;
        Ok(())
    }

    pub(crate) async fn insert_setting_if_absent(&self, key: &str, value: &str) -> Result<String, StoreError> {
        use instance_setting::Column as C;
        instance_setting::Entity::insert(row(key, value))
            .on_conflict_do_nothing_on([C::Key])
            .exec_without_returning(&self.db)
            .await
            .map_err(|e| self.err("setting", "setting", e))?;
        // Whoever inserted first, the stored value is the answer.
        self.setting(key).await?.ok_or_else(|| {
            crate::error::backend_msg(
                self.backend,
                format!("setting `{key}` vanished right after it was stored"),
            )
        })
    }
}
