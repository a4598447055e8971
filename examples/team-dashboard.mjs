// Team Dashboard dialect (seed 003): creates an agent from a Yagura agent
// definition, optionally types commands into it, prints its output until it
// stops, and shows one metrics sample on the way.
//
//   node team-dashboard.mjs <definition> [prompt] [--command TEXT]... [--socketio]
//
// <definition> is an agent definition's name or id; [prompt] fills its
// {prompt}. Each --command is sent with agent:command once the agent runs.
// --socketio speaks the same envelopes over Socket.IO's `message` event
// instead of the /ws/team-dashboard WebSocket.
//
// Env: YAGURA_URL (default http://127.0.0.1:3000), YAGURA_TOKEN or
// YAGURA_API_KEY (the member role is needed), TIMEOUT_MS (default 120000).
// Exit: 0 stopped, 2 crashed, 1 any other problem.
import { randomUUID } from 'node:crypto';
import WebSocket from 'ws';
import { io } from 'socket.io-client';

const base = (process.env.YAGURA_URL || 'http://127.0.0.1:3000').replace(/\/$/, '');
const token = process.env.YAGURA_TOKEN || process.env.YAGURA_API_KEY;
const timeoutMs = Number(process.env.TIMEOUT_MS || 120000);

function die(message) {
  console.error(`team-dashboard: ${message}`);
  process.exit(1);
}
if (!token) die('set YAGURA_TOKEN or YAGURA_API_KEY');

const positional = [];
const commands = [];
let socketio = false;
const argv = process.argv.slice(2);
for (let i = 0; i < argv.length; i++) {
  if (argv[i] === '--socketio') socketio = true;
  else if (argv[i] === '--command') commands.push(argv[++i] ?? '');
  else positional.push(argv[i]);
}
const [definition, prompt] = positional;
if (!definition) die('usage: team-dashboard.mjs <definition> [prompt] [--command TEXT]... [--socketio]');

// The carrier: send an envelope, get envelopes, learn about the end.
let carrier;
if (socketio) {
  const socket = io(base, { transports: ['websocket'], auth: { token }, reconnection: false });
  carrier = {
    send: (env) => socket.emit('message', env),
    onOpen: (f) => socket.on('connect', f),
    onMessage: (f) => socket.on('message', f),
    onClose: (f) => socket.on('disconnect', (reason) => f(reason)),
    onError: (f) => socket.on('connect_error', (e) => f(e.message)),
    close: () => socket.disconnect(),
  };
} else {
  const ws = new WebSocket(`${base.replace(/^http/, 'ws')}/ws/team-dashboard`);
  carrier = {
    send: (env) => ws.send(JSON.stringify(env)),
    onOpen: (f) => ws.on('open', f),
    onMessage: (f) => ws.on('message', (d) => f(JSON.parse(d.toString()))),
    onClose: (f) => ws.on('close', (code, reason) => f(`${code} ${reason}`)),
    onError: (f) => ws.on('error', (e) => f(e.message)),
    close: () => ws.close(1000),
  };
}

const pending = new Map(); // request id -> type
function request(type, payload) {
  const id = randomUUID();
  pending.set(id, type);
  carrier.send({ id, type, timestamp: Date.now(), payload });
  return id;
}

let agentId = null;
let metricsSub = null;
let exitCode = null;
const timer = setTimeout(() => die(`the agent did not stop within ${timeoutMs} ms`), timeoutMs);

function finish(code) {
  exitCode = code;
  clearTimeout(timer);
  carrier.close();
}

function onAck(msg) {
  const p = msg.payload;
  const type = pending.get(p.messageId);
  pending.delete(p.messageId);
  if (!p.success) die(`${type ?? 'message'} refused: ${p.error} (${p.code}) ${p.message}`);
  switch (type) {
    case 'auth':
      console.log(`authenticated, session ${p.sessionId}`);
      request('subscribe:metrics', {});
      request('agent:create', { name: definition, prompt: prompt ?? '' });
      break;
    case 'subscribe:metrics':
      metricsSub = p.subscriptionId;
      break;
    case 'agent:create':
      agentId = p.agentId;
      break;
    case 'unsubscribe':
      break;
    default:
      console.log(`ack ${type} ok`);
  }
}

carrier.onOpen(() => request('auth', { token, clientId: `example-${process.pid}` }));

carrier.onMessage((msg) => {
  const p = msg.payload;
  switch (msg.type) {
    case 'ack':
      onAck(msg);
      break;
    case 'metrics:update':
      if (metricsSub) {
        const s = p.system;
        console.log(`metrics: cpu ${s.cpu.usage}% of ${s.cpu.cores} cores, memory ${s.memory.percent}%, disk ${s.disk.percent}%`);
        request('unsubscribe', { subscriptionId: metricsSub });
        metricsSub = null;
      }
      break;
    case 'agent:created':
      agentId = p.agentId;
      console.log(`agent ${p.agentId} (${p.name}) created, pid ${p.pid}`);
      for (const command of commands) request('agent:command', { agentId, command });
      break;
    case 'agent:status':
      if (p.agentId !== agentId) break;
      console.log(`status ${p.status} ${JSON.stringify(p.details ?? {})}`);
      if (p.status === 'stopped') finish(0);
      break;
    case 'agent:output':
      if (p.agentId !== agentId) break;
      (p.stream === 'stderr' ? process.stderr : process.stdout).write(p.data);
      break;
    case 'agent:error':
      // A refusal's agent:error comes with its ack (handled there); this is a crash.
      if (!msg.metadata?.correlationId && p.agentId === agentId) {
        console.log(`agent error ${p.error.code}: ${p.error.message}`);
        finish(2);
      }
      break;
    case 'system:alert':
      console.log(`alert [${p.level}/${p.category}] ${p.message}`);
      break;
    case 'ping':
      carrier.send({ id: randomUUID(), type: 'pong', timestamp: Date.now(), payload: { timestamp: Date.now() } });
      break;
    default:
      break;
  }
});

carrier.onClose((why) => {
  if (exitCode === null) die(`connection closed: ${why}`);
  process.exit(exitCode);
});
carrier.onError((why) => die(why));
