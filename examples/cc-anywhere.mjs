// CC-Anywhere dialect (/ws/cc-anywhere, seed 001): authenticates with an
// API key, subscribes to one task (an execution id) and prints its updates
// and log lines until the final task:update.
//
//   node cc-anywhere.mjs <taskId>
//
// Env: YAGURA_URL (default http://127.0.0.1:3000), YAGURA_API_KEY,
// TIMEOUT_MS (default 120000).
// Exit: 0 completed, 2 failed/cancelled, 1 any other problem.
import WebSocket from 'ws';

const base = (process.env.YAGURA_URL || 'http://127.0.0.1:3000').replace(/\/$/, '');
const apiKey = process.env.YAGURA_API_KEY;
const taskId = process.argv[2];
const timeoutMs = Number(process.env.TIMEOUT_MS || 120000);

function die(message) {
  console.error(`cc-anywhere: ${message}`);
  process.exit(1);
}
if (!apiKey) die('set YAGURA_API_KEY');
if (!taskId) die('usage: cc-anywhere.mjs <taskId>');

const ws = new WebSocket(`${base.replace(/^http/, 'ws')}/ws/cc-anywhere`);
const send = (type, payload) => ws.send(JSON.stringify({ type, payload }));
const FINAL = new Set(['completed', 'failed', 'cancelled']);
let exitCode = null;
let heartbeat;

const timer = setTimeout(() => die(`no final task:update within ${timeoutMs} ms`), timeoutMs);

ws.on('open', () => send('auth', { apiKey }));

ws.on('message', (data) => {
  const { type, payload } = JSON.parse(data.toString());
  switch (type) {
    case 'auth:success':
      console.log('authenticated');
      send('subscribe', { taskId });
      // Optional application heartbeat; the server also pings every 30 s.
      heartbeat = setInterval(() => send('ping', { timestamp: Date.now() }), 20000);
      break;
    case 'subscribe:success':
      console.log(`subscribed to ${payload.taskId}`);
      break;
    case 'task:log':
      console.log(`[${payload.level}] ${payload.log}`);
      break;
    case 'task:update': {
      const meta = payload.metadata || {};
      if (payload.status === 'running' && meta.progress !== undefined) {
        console.log(`status running: ${meta.progress}% ${meta.currentStep}`);
      } else {
        console.log(`status ${payload.status} ${JSON.stringify(meta)}`);
      }
      if (FINAL.has(payload.status)) {
        exitCode = payload.status === 'completed' ? 0 : 2;
        clearTimeout(timer);
        clearInterval(heartbeat);
        ws.close(1000);
      }
      break;
    }
    case 'pong':
      break;
    case 'error':
      die(`error ${payload.code}: ${payload.message}`);
      break;
    default:
      console.log(`(ignored ${type})`);
  }
});

ws.on('close', (code, reason) => {
  if (exitCode === null) die(`closed ${code} ${reason}`);
  process.exit(exitCode);
});
ws.on('error', (e) => die(e.message));
