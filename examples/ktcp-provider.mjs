// KTCP provider (/ws/ktcp, seed 000): a minimal runner. It authenticates
// with a runner token, heartbeats, takes tasks, runs them and reports
// status, log lines and the outcome; then exits after a number of tasks.
//
//   node ktcp-provider.mjs [--create NAME] [--tasks N] [--seq]
//
// --create NAME  first creates a task of that name with task_create over a
//                second, client socket (needs YAGURA_TOKEN or YAGURA_API_KEY),
//                so there is something to run
// --tasks N      exit after N tasks ended (default 1)
// --seq          number the reports (Yagura's extension) and wait for the
//                server's ack of the last one before counting a task done
//
// A task made with task_create without an agent has an empty argv: this
// provider then "builds" for a few seconds, reporting progress and log
// lines. A task with an argv (an agent's command, when the server sends
// agents to runners) is run as a process.
//
// Env: YAGURA_URL (default http://127.0.0.1:3000), YAGURA_RUNNER_TOKEN,
// YAGURA_TOKEN or YAGURA_API_KEY (for --create), TIMEOUT_MS (default 120000).
// Exit: 0 after N tasks, 1 on any problem.
import { spawn } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import WebSocket from 'ws';

const base = (process.env.YAGURA_URL || 'http://127.0.0.1:3000').replace(/\/$/, '');
const url = `${base.replace(/^http/, 'ws')}/ws/ktcp`;
const runnerToken = process.env.YAGURA_RUNNER_TOKEN;
const userToken = process.env.YAGURA_TOKEN || process.env.YAGURA_API_KEY;
const timeoutMs = Number(process.env.TIMEOUT_MS || 120000);

function die(message) {
  console.error(`ktcp-provider: ${message}`);
  process.exit(1);
}
if (!runnerToken) die('set YAGURA_RUNNER_TOKEN');

let createName = null;
let wanted = 1;
let numbered = false;
const argv = process.argv.slice(2);
for (let i = 0; i < argv.length; i++) {
  if (argv[i] === '--create') createName = argv[++i];
  else if (argv[i] === '--tasks') wanted = Number(argv[++i]);
  else if (argv[i] === '--seq') numbered = true;
  else die(`unknown argument ${argv[i]}`);
}
if (createName && !userToken) die('--create needs YAGURA_TOKEN or YAGURA_API_KEY');

const now = () => new Date().toISOString();
const timer = setTimeout(() => die(`not done within ${timeoutMs} ms`), timeoutMs);
const ws = new WebSocket(url);
const tasks = new Map(); // taskId -> {seq, lastSeq, ended, acked, cancel}
let finished = 0;

function send(frame) {
  ws.send(JSON.stringify(frame));
}

// One report about a task; numbered with --seq.
function report(taskId, type, data) {
  const task = tasks.get(taskId);
  const frame = { type, taskId, data, timestamp: now() };
  if (numbered) frame.seq = ++task.seq;
  send(frame);
}

function log(taskId, level, message, stream = 'stdout') {
  console.log(`  ${taskId.slice(0, 8)} [${level}] ${message}`);
  report(taskId, 'task_log', { level, message, timestamp: now(), metadata: { stream } });
}

function end(taskId, type, data) {
  const task = tasks.get(taskId);
  if (task.ended) return;
  task.ended = true;
  report(taskId, type, data);
  console.log(`task ${taskId} ${data.status}`);
  if (!numbered) taskDone();
  else task.lastSeq = task.seq;
  checkAcked(taskId);
}

function checkAcked(taskId) {
  const task = tasks.get(taskId);
  if (numbered && task.ended && !task.counted && task.acked >= task.lastSeq) {
    task.counted = true;
    console.log(`task ${taskId}: all ${task.lastSeq} reports acknowledged`);
    taskDone();
  }
}

function taskDone() {
  finished += 1;
  if (finished >= wanted) {
    clearTimeout(timer);
    ws.close(1000);
  }
}

function usage(startedAt) {
  const wallMs = Date.now() - startedAt;
  const cpu = process.cpuUsage();
  const cpuMs = Math.round((cpu.user + cpu.system) / 1000);
  const peakKb = Math.round(process.memoryUsage().rss / 1024);
  return { cpuTime: cpuMs / 1000, memoryPeak: `${peakKb}KB`, executionTime: wallMs / 1000 };
}

// A task without a command: a pretend build with progress and logs.
function simulate(taskId, data) {
  const startedAt = Date.now();
  const steps = ['install', 'compile', 'test'];
  let i = 0;
  const tick = setInterval(() => {
    if (i < steps.length) {
      const progress = Math.round(((i + 1) * 100) / (steps.length + 1));
      report(taskId, 'task_status_update', { status: 'PROCESSING', progress, message: steps[i] });
      log(taskId, 'INFO', `${data.name}: ${steps[i]} done`);
      i += 1;
      return;
    }
    clearInterval(tick);
    end(taskId, 'task_completed', {
      status: 'COMPLETED', exitCode: 0, completedAt: now(), resourceUsage: usage(startedAt),
    });
  }, 700);
  tasks.get(taskId).cancel = (force) => {
    clearInterval(tick);
    end(taskId, 'task_error', {
      status: 'CANCELLED', errorCode: 'CANCELLED', errorMessage: force ? 'killed' : 'cancelled', failedAt: now(),
    });
  };
}

// A task with a command: run it in a fresh directory.
function run(taskId, data) {
  const startedAt = Date.now();
  if (data.argv.includes('{yagura}')) {
    end(taskId, 'task_error', {
      status: 'FAILED', errorCode: 'SPAWN_FAILED', errorMessage: 'this provider cannot run {yagura}', failedAt: now(),
    });
    return;
  }
  const cwd = mkdtempSync(join(tmpdir(), `ktcp-${taskId.slice(0, 8)}-`));
  const child = spawn(data.argv[0], data.argv.slice(1), {
    cwd, env: { ...process.env, ...data.env }, stdio: ['ignore', 'pipe', 'pipe'], detached: true,
  });
  let why = null;
  const kill = (signal) => { try { process.kill(-child.pid, signal); } catch { /* gone */ } };
  const limit = setTimeout(() => { why = 'TIMED_OUT'; kill('SIGKILL'); }, data.timeout * 1000);
  tasks.get(taskId).cancel = (force) => {
    why = 'CANCELLED';
    kill(force ? 'SIGKILL' : 'SIGTERM');
    if (!force) setTimeout(() => kill('SIGKILL'), 5000);
  };
  createInterface({ input: child.stdout }).on('line', (l) => log(taskId, 'INFO', l, 'stdout'));
  createInterface({ input: child.stderr }).on('line', (l) => log(taskId, 'WARN', l, 'stderr'));
  child.on('error', (e) => {
    clearTimeout(limit);
    end(taskId, 'task_error', { status: 'FAILED', errorCode: 'SPAWN_FAILED', errorMessage: e.message, failedAt: now() });
  });
  child.on('close', (code, signal) => {
    clearTimeout(limit);
    const resourceUsage = usage(startedAt);
    if (code === 0 && !why) {
      end(taskId, 'task_completed', { status: 'COMPLETED', exitCode: 0, completedAt: now(), resourceUsage });
    } else {
      end(taskId, 'task_error', {
        status: why ?? 'FAILED',
        errorCode: why ?? (signal ? 'SIGNAL' : 'EXIT_CODE'),
        errorMessage: signal ? `killed by ${signal}` : `exited with code ${code}`,
        failedAt: now(),
        exitCode: code ?? undefined,
        resourceUsage,
      });
    }
  });
}

function execute(msg) {
  const { taskId, data } = msg;
  console.log(`task ${taskId}: ${data.name} (timeout ${data.timeout} s, argv ${JSON.stringify(data.argv)})`);
  tasks.set(taskId, { seq: 0, lastSeq: 0, acked: 0, ended: false, counted: false, cancel: null });
  report(taskId, 'task_status_update', { status: 'PROCESSING', message: 'started', startedAt: now() });
  if (data.argv && data.argv.length > 0) run(taskId, data);
  else simulate(taskId, data);
}

// --create: make a seed task over a client socket, then close it.
function createTask() {
  const client = new WebSocket(url);
  client.on('open', () => client.send(JSON.stringify({ type: 'authenticate', token: userToken, clientType: 'client' })));
  client.on('message', (d) => {
    const msg = JSON.parse(d.toString());
    if (msg.type === 'auth_success') {
      client.send(JSON.stringify({
        type: 'task_create', requestId: 'create-1', timestamp: now(),
        data: { name: createName, description: 'made by ktcp-provider.mjs', timeout: 60, tags: ['example'] },
      }));
    } else if (msg.type === 'task_create_response') {
      console.log(`created task ${msg.taskId} (${msg.data.status})`);
      client.close(1000);
    } else if (msg.type === 'generic_error') {
      die(`task_create: ${msg.data.errorCode} ${msg.data.errorMessage}`);
    }
  });
  client.on('error', (e) => die(`client socket: ${e.message}`));
}

let heartbeat;
ws.on('open', () => {
  send({
    type: 'authenticate', token: runnerToken, clientType: 'provider', clientVersion: '1.0.0',
    capabilities: ['local'], name: 'example-provider', concurrency: 1,
  });
});

ws.on('message', (d) => {
  const msg = JSON.parse(d.toString());
  switch (msg.type) {
    case 'auth_success':
      console.log(`provider ${msg.providerId} online`);
      // The server closes a runner it hears nothing from for its lease (30 s by default).
      heartbeat = setInterval(() => send({ type: 'heartbeat', timestamp: now(), status: 'healthy' }), 10000);
      if (createName) createTask();
      break;
    case 'task_execute':
      execute(msg);
      break;
    case 'task_cancel': {
      const task = tasks.get(msg.taskId);
      console.log(`task ${msg.taskId}: cancel (${msg.data.reason}${msg.data.force ? ', force' : ''})`);
      if (task && !task.ended && task.cancel) task.cancel(msg.data.force);
      break;
    }
    case 'ack': {
      const task = tasks.get(msg.taskId);
      if (task) {
        task.acked = Math.max(task.acked, msg.seq);
        checkAcked(msg.taskId);
      }
      break;
    }
    case 'generic_error':
      // A report the server could not read names its task (msg.taskId).
      console.error(`generic_error ${msg.data.errorCode}${msg.taskId ? ` (task ${msg.taskId})` : ''}: ${msg.data.errorMessage}`);
      break;
    default:
      console.log(`(ignored ${msg.type})`);
  }
});

// The close reason says why: e.g. 4001 "runner token revoked", 1008 "the
// runner stopped reading", 1000 "the runner connected again" or "no heartbeat".
ws.on('close', (code, reason) => {
  clearInterval(heartbeat);
  if (finished < wanted) die(`closed ${code} ${reason}`);
  process.exit(0);
});
ws.on('error', (e) => die(e.message));
