//! Agent definitions: validation, storage, and the demo agent every new
//! installation starts with.

use crate::error::{internal, OrInternal};
use std::collections::BTreeMap;

use app::api::ApiError;
use app::model::{Agent, AgentId, AgentInput, AgentType, DEFAULT_OUTPUT_CAP, MASKED, PRESETS};

use sqlx::types::Json;

use crate::db::{self, agents as store, Db};
use crate::secrets::Sealer;

fn to_agent(row: store::AgentRow) -> Result<Agent, ApiError> {
    Ok(Agent {
        id: row.id.parse().or_internal("stored agent id")?,
        name: row.name,
        agent_type: row.agent_type,
        command: row.command.0,
        env: row.env.0,
        timeout_secs: row.timeout_secs.max(0) as u64,
        output_cap_bytes: row.output_cap_bytes.max(0) as u64,
        capabilities: row.capabilities.0,
        on_runner_lost: row.on_runner_lost,
        sandbox_paths: row.sandbox_paths.0,
        created_at: row.created_at,
        updated_at: row.updated_at,
    })
}

fn to_row(id: AgentId, input: &AgentInput, created_at: i64) -> store::AgentRow {
    store::AgentRow {
        id: id.to_string(),
        name: input.name.trim().to_string(),
        agent_type: input.agent_type,
        command: Json(input.command.clone()),
        env: Json(input.env.clone()),
        timeout_secs: input.timeout_secs as i64,
        output_cap_bytes: input.output_cap_bytes as i64,
        capabilities: Json(input.capabilities.clone()),
        on_runner_lost: input.on_runner_lost,
        sandbox_paths: Json(
            input
                .sandbox_paths
                .iter()
                .map(|p| p.trim().to_string())
                .filter(|p| !p.is_empty())
                .collect(),
        ),
        created_at,
        updated_at: db::now_ms(),
    }
}

/// Every agent, environment values masked: what clients see.
pub async fn list(db: &Db) -> Result<Vec<Agent>, ApiError> {
    store::list(db)
        .await
        .or_internal("listing agents")?
        .into_iter()
        .map(|row| to_agent(row).map(Agent::masked))
        .collect()
}

/// One agent as clients see it (environment values masked); [`get`] is
/// for the server's own use (starting executions).
pub async fn view(db: &Db, id: AgentId) -> Result<Agent, ApiError> {
    get(db, id).await.map(Agent::masked)
}

pub async fn get(db: &Db, id: AgentId) -> Result<Agent, ApiError> {
    store::find(db, &id.to_string())
        .await
        .or_internal("reading an agent")?
        .map(to_agent)
        .unwrap_or(Err(ApiError::NotFound))
}

/// The agent with this id or, failing that, this name (ignoring case):
/// how clients of other dialects name an agent.
pub async fn find(db: &Db, id_or_name: &str) -> Result<Option<Agent>, ApiError> {
    if let Ok(id) = id_or_name.parse::<AgentId>() {
        match get(db, id).await {
            Err(ApiError::NotFound) => {}
            other => return other.map(Some),
        }
    }
    store::find_by_name(db, id_or_name.trim())
        .await
        .or_internal("finding an agent")?
        .map(to_agent)
        .transpose()
}

fn taken(name: &str) -> ApiError {
    ApiError::Conflict(format!("an agent named {:?} exists already", name.trim()))
}

/// Creates an agent; its environment values are sealed before they are stored.
pub async fn create(db: &Db, sealer: &Sealer, input: &AgentInput) -> Result<Agent, ApiError> {
    input.validate().map_err(ApiError::Invalid)?;
    if let Some((key, _)) = input.env.iter().find(|(_, v)| *v == MASKED) {
        return Err(ApiError::Invalid(format!("give {key} a value")));
    }
    let mut row = to_row(AgentId(uuid::Uuid::new_v4()), input, db::now_ms());
    row.env = Json(sealer.seal_env(&row.env.0));
    match store::create(db, &row).await {
        Ok(()) => to_agent(row).map(Agent::masked),
        Err(e) if db::is_unique_violation(&e) => Err(taken(&input.name)),
        Err(e) => Err(internal("creating an agent", e)),
    }
}

pub async fn update(
    db: &Db,
    sealer: &Sealer,
    id: AgentId,
    input: &AgentInput,
) -> Result<Agent, ApiError> {
    input.validate().map_err(ApiError::Invalid)?;
    let existing = get(db, id).await?;
    // New values are sealed; a masked one (the form shows values so) keeps
    // the stored, sealed value as it is.
    let typed: BTreeMap<String, String> = input
        .env
        .iter()
        .filter(|(_, v)| *v != MASKED)
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let mut env = sealer.seal_env(&typed);
    for key in input.env.keys().filter(|k| input.env[*k] == MASKED) {
        let stored = existing
            .env
            .get(key)
            .cloned()
            .ok_or_else(|| ApiError::Invalid(format!("give {key} a value")))?;
        env.insert(key.clone(), stored);
    }
    let mut row = to_row(id, input, existing.created_at);
    row.env = Json(env);
    match store::update(db, &row).await {
        Ok(true) => view(db, id).await,
        Ok(false) => Err(ApiError::NotFound),
        Err(e) if db::is_unique_violation(&e) => Err(taken(&input.name)),
        Err(e) => Err(internal("updating an agent", e)),
    }
}

pub async fn delete(db: &Db, id: AgentId) -> Result<(), ApiError> {
    match store::delete(db, id.to_string().as_str()).await {
        Ok(true) => Ok(()),
        Ok(false) => Err(ApiError::NotFound),
        Err(e) => Err(internal("deleting an agent", e)),
    }
}

/// A fresh installation gets the built-in demo agent, so there is
/// something to run at once.
pub async fn seed_demo(db: &Db, sealer: &Sealer) -> anyhow::Result<()> {
    let runs = db::executions::count(db, &Default::default()).await?;
    if store::count(db).await? > 0 || runs > 0 {
        return Ok(());
    }
    let preset = PRESETS
        .iter()
        .find(|p| p.key == "demo")
        .expect("demo preset");
    let input = AgentInput {
        name: "Demo agent".into(),
        agent_type: AgentType::CodeGen,
        command: preset.command.iter().map(|s| s.to_string()).collect(),
        env: BTreeMap::new(),
        timeout_secs: 600,
        output_cap_bytes: DEFAULT_OUTPUT_CAP,
        capabilities: Vec::new(),
        on_runner_lost: Default::default(),
        sandbox_paths: Vec::new(),
    };
    create(db, sealer, &input)
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    Ok(())
}

/// Seals environment values stored before sealing existed (agents and
/// executions), once per database.
pub async fn seal_stored_environments(db: &Db, sealer: &Sealer) -> anyhow::Result<()> {
    const DONE: &str = "secrets.env_sealed_v1";
    if db::settings::get(db, DONE).await?.is_some() {
        return Ok(());
    }
    let mut sealed = 0;
    for row in store::list(db).await? {
        if !Sealer::env_sealed(&row.env.0) {
            store::set_env(db, &row.id, &sealer.seal_env(&row.env.0)).await?;
            sealed += 1;
        }
    }
    for (id, env) in db::executions::environments(db).await? {
        if !Sealer::env_sealed(&env.0) {
            db::executions::set_env(db, &id, &sealer.seal_env(&env.0)).await?;
            sealed += 1;
        }
    }
    db::settings::set(db, DONE, Some("1"), db::now_ms()).await?;
    if sealed > 0 {
        // The values in the clear must not linger in freed pages.
        db::vacuum(db).await?;
        tracing::info!(
            rows = sealed,
            "sealed environment values stored in the clear"
        );
    }
    Ok(())
}
