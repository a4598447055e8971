//! Agent definitions: validation, storage, and the demo agent every new
//! installation starts with.

use crate::error::{internal, OrInternal};
use std::collections::BTreeMap;

use app::api::ApiError;
use app::model::{
    Agent, AgentId, AgentInput, AgentType, ProgramCheck, DEFAULT_OUTPUT_CAP, MASKED, PRESETS,
};

use crate::db::Json;

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
        budget: row.budget.0,
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
        budget: Json(input.budget),
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

/// Each agent's runs added up, for the Agents page.
pub async fn stats(db: &Db) -> Result<Vec<app::model::AgentStats>, ApiError> {
    let rows = store::stats(db)
        .await
        .or_internal("reading agent statistics")?;
    Ok(rows
        .into_iter()
        .filter_map(|r| {
            Some(app::model::AgentStats {
                agent_id: r.agent_id.parse().ok()?,
                runs: r.runs.max(0) as u64,
                completed: r.completed.max(0) as u64,
                failed: r.failed.max(0) as u64,
                avg_wall_ms: r.avg_wall_ms.map(|ms| ms.max(0) as u64),
                last_status: r.last_status.parse().ok(),
                last_at: Some(r.last_at),
            })
        })
        .collect())
}

/// Whether `command`'s program starts here: `{yagura}` is this binary, a
/// name with a `/` is a path, any other name is looked up on `path` (the
/// agent's `PATH`, else the server's) as `execvp` would.
pub fn check_program(command: &[String], path: Option<&str>) -> ProgramCheck {
    use std::os::unix::fs::PermissionsExt;
    let program = command.first().cloned().unwrap_or_default();
    let executable = |p: &std::path::Path| {
        std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
    };
    let check = |found: Option<String>, note: Option<String>| ProgramCheck {
        program: program.clone(),
        found,
        note,
    };
    if program == "{yagura}" {
        let me = std::env::current_exe()
            .ok()
            .map(|p| p.display().to_string());
        return check(me, Some("the Yagura binary itself".into()));
    }
    if program.trim().is_empty() {
        return check(None, Some("the command has no program".into()));
    }
    if program.contains(char::is_whitespace) && !std::path::Path::new(&program).exists() {
        return check(
            None,
            Some("a program's name has no spaces: put each argument on its own line, or make this a shell script".into()),
        );
    }
    if program.contains('/') {
        let p = std::path::Path::new(&program);
        return if executable(p) {
            check(Some(program.clone()), None)
        } else if p.exists() {
            check(
                None,
                Some(format!("{program} exists but is not an executable file")),
            )
        } else {
            check(None, Some(format!("there is no {program} on this server")))
        };
    }
    let search = path
        .map(str::to_string)
        .or_else(|| std::env::var("PATH").ok())
        .unwrap_or_default();
    let found = std::env::split_paths(&search)
        .map(|dir| dir.join(&program))
        .find(|p| executable(p));
    match found {
        Some(p) => check(Some(p.display().to_string()), None),
        None => check(
            None,
            Some(format!(
                "{program} is not on this server's PATH ({search}): runs here fail to start. A remote runner that has it can still run this agent."
            )),
        ),
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
        budget: Default::default(),
    };
    match create(db, sealer, &input).await {
        Ok(_) => Ok(()),
        // Another replica starting at the same moment made it first.
        Err(ApiError::Conflict(_)) => Ok(()),
        Err(e) => Err(anyhow::anyhow!("{e}")),
    }
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

#[cfg(test)]
mod program_tests {
    use super::check_program;

    #[test]
    fn programs_are_found_as_exec_would_find_them() {
        let argv = |a: &str| vec![a.to_string()];
        let sh = check_program(&argv("sh"), Some("/nonexistent:/bin:/usr/bin"));
        assert!(sh.found.is_some_and(|p| p.ends_with("/sh")));
        let missing = check_program(&argv("no-such-agent-cli"), Some("/bin"));
        assert!(missing.found.is_none());
        assert!(missing.note.unwrap().contains("not on this server's PATH"));
        let pasted = check_program(&argv("sh -c 'echo hi'"), None);
        assert!(pasted.found.is_none() && pasted.note.unwrap().contains("no spaces"));
        assert!(check_program(&argv("/bin/sh"), None).found.is_some());
        assert!(check_program(&argv("/etc/passwd"), None).found.is_none());
        assert!(check_program(&argv("{yagura}"), None).found.is_some());
    }
}
