// nospace over Socket.IO (seed 004): runs a piece of code with an agent,
// streams its output byte for byte, and feeds it input.
//
//   node nospace.mjs [code] [--agent NAME] [--stdin TEXT] [--kill-after MS]
//
// The code fills the agent's {prompt} (default: a shell greeting that reads
// a name). Input: with --stdin TEXT the run is a batch run (TEXT is its whole
// standard input); otherwise it is interactive and this script's own
// standard input is forwarded line by line, e.g.
//   echo Ada | node nospace.mjs --agent shell
// --kill-after MS sends nospace_kill after MS milliseconds.
//
// Env: YAGURA_URL (default http://127.0.0.1:3000), YAGURA_TOKEN or
// YAGURA_API_KEY (the member role is needed), NOSPACE_AGENT (the agent, if
// no --agent; without either the server's --nospace-agent is used),
// TIMEOUT_MS (default 120000).
// Exit: the run's exit code when it finished or errored with one; 0 for
// finished, 2 for killed or an error without an exit code; 1 for any other
// problem.
import { createInterface } from 'node:readline';
import { io } from 'socket.io-client';

const base = (process.env.YAGURA_URL || 'http://127.0.0.1:3000').replace(/\/$/, '');
const token = process.env.YAGURA_TOKEN || process.env.YAGURA_API_KEY;
const timeoutMs = Number(process.env.TIMEOUT_MS || 120000);

function die(message) {
  console.error(`nospace: ${message}`);
  process.exit(1);
}
if (!token) die('set YAGURA_TOKEN or YAGURA_API_KEY');

let code = 'printf "Name? "; read name; echo "Hello, $name"';
let agent = process.env.NOSPACE_AGENT;
let stdinData;
let killAfter;
const argv = process.argv.slice(2);
for (let i = 0; i < argv.length; i++) {
  if (argv[i] === '--agent') agent = argv[++i];
  else if (argv[i] === '--stdin') stdinData = argv[++i] ?? '';
  else if (argv[i] === '--kill-after') killAfter = Number(argv[++i]);
  else code = argv[i];
}

const socket = io(base, { auth: { token }, reconnection: false });
let sessionId = null;
let done = false;
const timer = setTimeout(() => die(`the run did not end within ${timeoutMs} ms`), timeoutMs);

socket.on('connect', () => {
  const options = { language: 'sh', inputMode: stdinData === undefined ? 'interactive' : 'batch' };
  if (agent) options.agentId = agent;
  const run = { code, options };
  if (stdinData !== undefined) run.stdinData = stdinData;
  socket.emit('nospace_run', run);
});

socket.on('connect_error', (err) => die(`cannot connect: ${err.message}`));

function forwardStdin() {
  if (stdinData !== undefined) return; // batch: the input went with nospace_run
  const lines = createInterface({ input: process.stdin });
  lines.on('line', (line) => {
    if (sessionId && !done) socket.emit('nospace_stdin', { sessionId, data: line });
  });
}

socket.on('nospace_execution_status', ({ sessionId: id, status, exitCode }) => {
  if (sessionId && id !== sessionId) return; // a run this socket replaced
  if (status === 'running') {
    sessionId = id;
    console.error(`[nospace] running, session ${id}`);
    forwardStdin();
    if (killAfter >= 0) setTimeout(() => socket.emit('nospace_kill', { sessionId: id }), killAfter);
    return;
  }
  done = true;
  clearTimeout(timer);
  console.error(`[nospace] ${status}, exit code ${exitCode}`);
  socket.disconnect();
  if (status === 'finished') process.exit(0);
  process.exit(typeof exitCode === 'number' && exitCode !== 0 ? exitCode : 2);
});

socket.on('nospace_stdout', ({ sessionId: id, data }) => {
  if (id === sessionId) process.stdout.write(data);
});
socket.on('nospace_stderr', ({ sessionId: id, data }) => {
  if (id === sessionId) process.stderr.write(data);
});

socket.on('disconnect', (reason) => {
  if (!done) die(`disconnected: ${reason}`);
});
