//! The engine's decisions, without I/O: given a run's steps (and how the
//! executions of its running steps stand), what is due now. The engine
//! ([`super::engine`]) loads the state, asks [`plan`], carries the actions
//! out, and asks [`stage_outcome`] whether to wait, fail the run or go on.
//!
//! The rules: stages go in order, the steps of a stage together. A pending
//! step with an approval gate waits for a decision; others start. A stage
//! is over when all its steps ended; a failed, cancelled or rejected step
//! that does not say "continue" then ends the run as failed. A run whose
//! steps all ended completed.

use app::model::{ExecutionStatus, OnFailure, StepStatus};

/// How a running step's execution stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Execution {
    /// The step has no execution (it cannot run without one).
    Missing,
    /// Its execution was deleted.
    Gone,
    Running,
    Ended(ExecutionStatus),
}

/// What the decision needs to know of a step.
#[derive(Clone, Debug, PartialEq)]
pub struct StepView {
    pub stage: i64,
    pub status: StepStatus,
    pub approval: bool,
    /// Someone approved it already (a gate passed).
    pub decided: bool,
    pub on_failure: OnFailure,
    /// For running steps: their execution.
    pub execution: Execution,
}

/// Something to do to step `i`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    /// Wait at its gate for a person's decision.
    Gate,
    /// Start its execution.
    Start,
    /// Record the end of its execution with this step status.
    Record(StepStatus),
    /// Fail it: its execution was deleted.
    Lost,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Plan {
    /// Every step ended: the run completed.
    Complete,
    /// Work on the earliest unfinished stage.
    Stage {
        stage: i64,
        actions: Vec<(usize, Action)>,
    },
}

/// The step status an ended execution gives its step.
pub fn step_status_of(execution: ExecutionStatus) -> StepStatus {
    match execution {
        ExecutionStatus::Completed => StepStatus::Completed,
        ExecutionStatus::Cancelled => StepStatus::Cancelled,
        _ => StepStatus::Failed,
    }
}

/// What is due in the earliest stage that has unfinished steps.
pub fn plan(steps: &[StepView]) -> Plan {
    let Some(stage) = steps
        .iter()
        .filter(|s| !s.status.is_terminal())
        .map(|s| s.stage)
        .min()
    else {
        return Plan::Complete;
    };
    let actions = steps
        .iter()
        .enumerate()
        .filter(|(_, s)| s.stage == stage)
        .filter_map(|(i, s)| {
            let action = match (s.status, s.execution) {
                (StepStatus::Pending, _) if s.approval && !s.decided => Action::Gate,
                (StepStatus::Pending, _) => Action::Start,
                // Running without an execution cannot happen; start it again.
                (StepStatus::Running, Execution::Missing) => Action::Start,
                (StepStatus::Running, Execution::Gone) => Action::Lost,
                (StepStatus::Running, Execution::Ended(e)) => Action::Record(step_status_of(e)),
                _ => return None,
            };
            Some((i, action))
        })
        .collect();
    Plan::Stage { stage, actions }
}

/// How a stage stands once its actions are done.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StageOutcome {
    /// Some step is still running or waiting at its gate.
    Waiting,
    /// Over, and step `i` failed (or was cancelled or rejected) without
    /// "continue": the run fails.
    Stopped(usize),
    /// Over: the next stage may go.
    Passed,
}

pub fn stage_outcome(steps: &[StepView], stage: i64) -> StageOutcome {
    let in_stage = || {
        steps
            .iter()
            .enumerate()
            .filter(move |(_, s)| s.stage == stage)
    };
    if !in_stage().all(|(_, s)| s.status.is_terminal()) {
        return StageOutcome::Waiting;
    }
    let stopper = in_stage().find(|(_, s)| {
        matches!(
            s.status,
            StepStatus::Failed | StepStatus::Cancelled | StepStatus::Rejected
        ) && s.on_failure != OnFailure::Continue
    });
    match stopper {
        Some((i, _)) => StageOutcome::Stopped(i),
        None => StageOutcome::Passed,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn step(stage: i64, status: StepStatus) -> StepView {
        StepView {
            stage,
            status,
            approval: false,
            decided: false,
            on_failure: OnFailure::Stop,
            execution: Execution::Missing,
        }
    }

    fn running(stage: i64, execution: Execution) -> StepView {
        StepView {
            execution,
            ..step(stage, StepStatus::Running)
        }
    }

    #[test]
    fn a_stage_starts_all_its_steps_and_later_stages_wait() {
        let steps = [
            step(0, StepStatus::Pending),
            step(0, StepStatus::Pending),
            step(1, StepStatus::Pending),
        ];
        assert_eq!(
            plan(&steps),
            Plan::Stage {
                stage: 0,
                actions: vec![(0, Action::Start), (1, Action::Start)]
            }
        );
    }

    #[test]
    fn a_gate_waits_until_someone_decides() {
        let mut gated = step(0, StepStatus::Pending);
        gated.approval = true;
        assert_eq!(
            plan(std::slice::from_ref(&gated)),
            Plan::Stage {
                stage: 0,
                actions: vec![(0, Action::Gate)]
            }
        );
        gated.decided = true;
        assert_eq!(
            plan(&[gated]),
            Plan::Stage {
                stage: 0,
                actions: vec![(0, Action::Start)]
            }
        );
        let waiting = [step(0, StepStatus::WaitingApproval)];
        assert_eq!(
            plan(&waiting),
            Plan::Stage {
                stage: 0,
                actions: vec![]
            }
        );
        assert_eq!(stage_outcome(&waiting, 0), StageOutcome::Waiting);
    }

    #[test]
    fn ended_executions_are_recorded_and_missing_ones_handled() {
        let steps = [
            running(0, Execution::Ended(ExecutionStatus::Completed)),
            running(0, Execution::Ended(ExecutionStatus::TimedOut)),
            running(0, Execution::Ended(ExecutionStatus::Cancelled)),
            running(0, Execution::Running),
            running(0, Execution::Missing),
            running(0, Execution::Gone),
        ];
        assert_eq!(
            plan(&steps),
            Plan::Stage {
                stage: 0,
                actions: vec![
                    (0, Action::Record(StepStatus::Completed)),
                    (1, Action::Record(StepStatus::Failed)),
                    (2, Action::Record(StepStatus::Cancelled)),
                    (4, Action::Start),
                    (5, Action::Lost),
                ]
            }
        );
    }

    #[test]
    fn a_stage_is_over_when_every_step_ended() {
        let mut steps = [
            step(0, StepStatus::Completed),
            step(0, StepStatus::Running),
            step(1, StepStatus::Pending),
        ];
        assert_eq!(stage_outcome(&steps, 0), StageOutcome::Waiting);
        steps[1].status = StepStatus::Completed;
        assert_eq!(stage_outcome(&steps, 0), StageOutcome::Passed);
        assert_eq!(
            plan(&steps),
            Plan::Stage {
                stage: 1,
                actions: vec![(2, Action::Start)]
            }
        );
        steps[2].status = StepStatus::Skipped;
        assert_eq!(plan(&steps), Plan::Complete);
    }

    #[test]
    fn failures_stop_the_run_unless_the_step_says_continue() {
        let mut steps = [step(0, StepStatus::Completed), step(0, StepStatus::Failed)];
        assert_eq!(stage_outcome(&steps, 0), StageOutcome::Stopped(1));
        steps[1].on_failure = OnFailure::Continue;
        assert_eq!(stage_outcome(&steps, 0), StageOutcome::Passed);
        steps[1].status = StepStatus::Rejected;
        steps[1].on_failure = OnFailure::Stop;
        assert_eq!(stage_outcome(&steps, 0), StageOutcome::Stopped(1));
        steps[1].status = StepStatus::Cancelled;
        assert_eq!(stage_outcome(&steps, 0), StageOutcome::Stopped(1));
        steps[1].status = StepStatus::Skipped;
        assert_eq!(stage_outcome(&steps, 0), StageOutcome::Passed);
    }
}
