// Native dialect (/ws, seed 002): follows one execution and prints its
// events until it ends.
//
//   node native.mjs <executionId>              follow an existing execution
//   node native.mjs --start <agent> [prompt]   start one (agent id or name), then follow it
//
// Env: YAGURA_URL (default http://127.0.0.1:3000), YAGURA_TOKEN or
// YAGURA_API_KEY, TIMEOUT_MS (default 120000), BATCH=1 for Yagura's
// extensions (batch frames, agent.cancelled, and the events seed 002 does
// not have: agent.queued, agent.paused, agent.resumed, agent.requeued).
// Without BATCH=1 those events are not sent, so the seq numbers printed
// skip theirs (the first is usually #2, agent.started).
// Exit: 0 completed, 2 failed/cancelled, 1 any other problem.
import WebSocket from 'ws';

const base = (process.env.YAGURA_URL || 'http://127.0.0.1:3000').replace(/\/$/, '');
const credential = process.env.YAGURA_TOKEN || process.env.YAGURA_API_KEY;
const timeoutMs = Number(process.env.TIMEOUT_MS || 120000);

function die(message) {
  console.error(`native: ${message}`);
  process.exit(1);
}

if (!credential) die('set YAGURA_TOKEN or YAGURA_API_KEY');
const args = process.argv.slice(2);
if (args.length === 0) die('usage: native.mjs <executionId> | --start <agent> [prompt]');

async function api(method, path, body) {
  const res = await fetch(`${base}/api/v1${path}`, {
    method,
    headers: { authorization: `Bearer ${credential}`, 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  if (!res.ok) throw new Error(`${method} ${path}: HTTP ${res.status} ${text}`);
  return text ? JSON.parse(text) : null;
}

async function executionId() {
  if (args[0] !== '--start') return args[0];
  const wanted = args[1];
  if (!wanted) die('--start needs an agent id or name');
  const agents = await api('GET', '/agents');
  const agent = agents.find((a) => a.id === wanted || a.name === wanted);
  if (!agent) die(`no agent ${JSON.stringify(wanted)}`);
  const execution = await api('POST', '/executions', { agentId: agent.id, prompt: args[2] ?? '' });
  console.log(`started execution ${execution.id} of ${agent.name}`);
  return execution.id;
}

const id = await executionId().catch((e) => die(e.message));
const wsUrl = `${base.replace(/^http/, 'ws')}/ws?token=${encodeURIComponent(credential)}` +
  (process.env.BATCH === '1' ? '&batch=1' : '');
const ws = new WebSocket(wsUrl);
let lastSeq = 0;
let exitCode = null;

const timer = setTimeout(() => die(`no end within ${timeoutMs} ms`), timeoutMs);

function onEvent(event) {
  if (event.executionId !== id) return;
  if (event.seq <= lastSeq) return; // never happens: each event comes once
  lastSeq = event.seq;
  switch (event.type) {
    case 'agent.queued': // BATCH=1 only
      console.log(`#${event.seq} queued (${event.agentType})`);
      break;
    case 'agent.started':
      console.log(`#${event.seq} started`);
      break;
    case 'agent.progress':
      console.log(`#${event.seq} progress ${event.progress}% ${event.currentStep}`);
      break;
    case 'agent.log':
      console.log(`#${event.seq} [${event.stream}/${event.level}] ${event.message}`);
      break;
    case 'agent.completed':
      console.log(`#${event.seq} completed: exit ${event.exitCode}, result ${JSON.stringify(event.result)}`);
      exitCode = 0;
      break;
    case 'agent.failed':
      console.log(`#${event.seq} ${event.status}: ${event.errorCode} ${event.errorMessage}`);
      exitCode = 2;
      break;
    case 'agent.cancelled':
      console.log(`#${event.seq} cancelled`);
      exitCode = 2;
      break;
    default: // agent.paused, agent.resumed, agent.requeued: BATCH=1 only
      console.log(`#${event.seq} ${event.type}`);
  }
  if (exitCode !== null) {
    clearTimeout(timer);
    ws.close(1000);
  }
}

ws.on('open', () => {
  ws.send(JSON.stringify({ type: 'subscribe', channel: 'agent-execution', executionId: id }));
});

ws.on('message', (data) => {
  const msg = JSON.parse(data.toString());
  switch (msg.type) {
    case 'connected':
      console.log(`connected as ${msg.user.username} (GitHub: ${msg.user.githubUsername}, ${msg.connectionId})`);
      break;
    case 'subscribed':
      console.log(`subscribed to ${msg.executionId}`);
      break;
    case 'error':
      die(`server error ${msg.code}: ${msg.message}`);
      break;
    case 'batch':
      msg.events.forEach(onEvent);
      break;
    default:
      if (msg.type.startsWith('agent.')) onEvent(msg);
    // issue.created, workflow.*, notification (and with BATCH=1 issue.updated,
    // runner.updated, resync) arrive too; this example ignores them.
  }
});

ws.on('close', (code, reason) => {
  if (exitCode === null) die(`closed ${code} ${reason}`);
  process.exit(exitCode);
});
ws.on('error', (e) => die(e.message));
