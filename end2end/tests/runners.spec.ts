import { test, expect, type Page } from '@playwright/test';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';

// The Runners page follows a real `yagura runner` process live: it comes
// online, runs an execution that needs its capability, and goes offline.
test.describe.configure({ mode: 'serial' });

const ADMIN = { username: 'admin', password: 'correct horse battery' };
const BINARY = path.join(__dirname, '..', '..', 'target', 'release', 'yagura');

async function shot(page: Page, name: string) {
  await page.screenshot({ path: `screenshots/runners-${name}.png`, fullPage: true });
}

let runner: ChildProcess | undefined;

test.afterAll(() => {
  runner?.kill('SIGKILL');
});

test.beforeAll(async ({ request }) => {
  const res = await request.post('/api/v1/setup', { data: ADMIN });
  expect([201, 409]).toContain(res.status());
});

test('a runner comes online, runs an execution and goes offline', async ({ page, request, baseURL }) => {
  await page.goto('/login');
  await page.waitForLoadState('networkidle');
  await page.getByLabel('Username').fill(ADMIN.username);
  await page.getByLabel('Password').fill(ADMIN.password);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await expect(page.getByTestId('connection-indicator')).toHaveAttribute('data-status', 'connected');

  await page.goto('/runners');
  await page.waitForLoadState('networkidle');
  await expect(page.getByText('No runners yet')).toBeVisible();
  await expect(page.getByTestId('runner-command')).toContainText(`--server ws://127.0.0.1:`);
  await page.getByLabel('Token name').fill('e2e');
  await page.getByRole('button', { name: 'Create token' }).click();
  const secret = (await page.getByTestId('new-token').textContent())!.trim();
  expect(secret).toMatch(/^yrt_[0-9a-f]{64}$/);
  await shot(page, 'token');

  runner = spawn(BINARY, [
    'runner', '--server', baseURL!, '--token', secret, '--name', 'e2e-box',
    '--capabilities', 'local,docker', '--heartbeat-secs', '0.5',
    '--work-dir', mkdtempSync(path.join(tmpdir(), 'yagura-e2e-runner-')),
  ], { stdio: 'ignore' });

  // Live: the card appears without a reload.
  const card = page.getByTestId('runner').filter({ hasText: 'e2e-box' });
  await expect(card).toHaveAttribute('data-online', 'true', { timeout: 15_000 });
  await expect(card).toContainText('docker');
  await shot(page, 'online');

  // An agent only a docker runner may run.
  const login = await (await request.post('/api/v1/auth/login', { data: ADMIN })).json();
  const headers = { Authorization: `Bearer ${login.token}` };
  const agent = await request.post('/api/v1/agents', {
    headers,
    data: { name: 'Remote counter', agentType: 'Test', command: ['sh', '-c', 'for i in 1 2 3; do echo "remote line $i"; done'], capabilities: ['docker'] },
  });
  expect(agent.status()).toBe(201);
  const exec = await request.post('/api/v1/executions', { headers, data: { agentId: (await agent.json()).id } });
  expect(exec.status()).toBe(201);
  await page.goto(`/executions/${(await exec.json()).id}`);
  await expect(page.getByTestId('status-badge')).toHaveText('completed', { timeout: 15_000 });
  await expect(page.getByTestId('log-viewport').getByText('remote line 3')).toBeVisible();
  await shot(page, 'execution');

  await page.goto('/runners');
  await page.waitForLoadState('networkidle');
  await expect(card).toHaveAttribute('data-online', 'true');
  runner.kill('SIGTERM');
  await expect(card).toHaveAttribute('data-online', 'false', { timeout: 15_000 });
  await expect(card.getByTestId('runner-status')).toHaveText('offline');
  await shot(page, 'offline');
});
