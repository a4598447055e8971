import { test, expect, type Page } from '@playwright/test';
import WebSocket from 'ws';

// An API key made on its page signs a CC-Anywhere client (Node's `ws`, as
// the seed's clients are) in; the run it watches is the one the page
// shows; revoking the key on the page closes the client's socket. The
// page links the API reference, rendered from the OpenAPI document.
test.describe.configure({ mode: 'serial' });

const ADMIN = { username: 'admin', password: 'correct horse battery' };

async function shot(page: Page, name: string) {
  await page.screenshot({ path: `screenshots/dialects-${name}.png`, fullPage: true });
}

async function signIn(page: Page) {
  await page.goto('/login');
  await page.waitForLoadState('networkidle');
  await page.getByLabel('Username').fill(ADMIN.username);
  await page.getByLabel('Password').fill(ADMIN.password);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await expect(page.getByTestId('connection-indicator')).toHaveAttribute('data-status', 'connected');
}

/** A CC-Anywhere client: every frame it got, and a way to wait for one. */
class CcAnywhere {
  frames: any[] = [];
  closeCode: number | undefined;
  private waiters: Array<() => void> = [];
  private ws: WebSocket;

  constructor(url: string) {
    this.ws = new WebSocket(url);
    this.ws.on('message', (data) => {
      this.frames.push(JSON.parse(data.toString()));
      this.wake();
    });
    this.ws.on('close', (code) => {
      this.closeCode = code;
      this.wake();
    });
  }

  private wake() {
    for (const w of this.waiters.splice(0)) w();
  }

  async opened() {
    if (this.ws.readyState === WebSocket.OPEN) return;
    await new Promise((resolve, reject) => {
      this.ws.once('open', resolve);
      this.ws.once('error', reject);
    });
  }

  send(type: string, payload: object) {
    this.ws.send(JSON.stringify({ type, payload }));
  }

  /** Waits (up to 20 s) until `done` holds over the frames received. */
  async until<T>(what: string, done: () => T | undefined): Promise<T> {
    const deadline = Date.now() + 20_000;
    for (;;) {
      const value = done();
      if (value !== undefined && value !== false) return value;
      if (Date.now() > deadline) throw new Error(`no ${what}; got ${JSON.stringify(this.frames).slice(0, 2000)}`);
      await new Promise<void>((resolve) => {
        this.waiters.push(resolve);
        setTimeout(resolve, 250);
      });
    }
  }

  close() {
    this.ws.close();
  }
}

test.beforeAll(async ({ request }) => {
  const res = await request.post('/api/v1/setup', { data: ADMIN });
  expect([201, 409]).toContain(res.status());
});

test('an API key from its page follows a run over CC-Anywhere, and revoking it closes the socket', async ({ page, request, baseURL }) => {
  await signIn(page);
  await page.goto('/api-keys');
  await page.waitForLoadState('networkidle');
  await expect(page.getByRole('heading', { level: 1, name: 'API keys' })).toBeVisible();
  await expect(page.getByTestId('api-keys-empty')).toBeVisible();
  await page.getByTestId('api-key-name').fill('watcher');
  await page.getByRole('button', { name: 'Create key' }).click();
  const key = (await page.getByTestId('new-api-key').textContent())!.trim();
  expect(key).toMatch(/^yak_/);
  const row = page.getByTestId('api-key').filter({ hasText: 'watcher' });
  await expect(row).toHaveAttribute('data-revoked', 'false');
  // The list shows a prefix, never the key.
  await expect(page.getByTestId('api-key-list')).not.toContainText(key);
  await shot(page, 'api-keys');

  // A run that waits for its input half-way.
  const headers = { 'x-api-key': key };
  let res = await request.post('/api/v1/agents', {
    headers,
    data: {
      name: 'Counter', agentType: 'Custom',
      command: ['sh', '-c', 'i=1; while [ $i -le 50 ]; do echo "count $i"; i=$((i+1)); done; printf "more? "; read a; echo "last $a"; echo oops >&2'],
    },
  });
  expect(res.status()).toBe(201);
  const agent = (await res.json()).id;
  res = await request.post('/api/v1/executions', { headers, data: { agentId: agent, prompt: 'count' } });
  expect(res.status()).toBe(201);
  const task = (await res.json()).id;

  const ws = `${baseURL!.replace(/^http/, 'ws')}/ws/cc-anywhere`;
  const client = new CcAnywhere(ws);
  await client.opened();
  client.send('auth', { apiKey: key });
  await client.until('auth:success', () => client.frames.find((f) => f.type === 'auth:success'));
  client.send('subscribe', { taskId: task });
  await client.until('subscribe:success', () => client.frames.find((f) => f.type === 'subscribe:success'));
  await client.until('count 50', () => client.frames.find((f) => f.type === 'task:log' && f.payload.log === 'count 50'));

  // The page shows the same run, waiting at its prompt.
  await page.goto(`/executions/${task}`);
  const log = page.getByTestId('log-viewport');
  await expect(log.getByText('count 50', { exact: true })).toBeVisible();
  await expect(log.getByText('more?')).toBeVisible();
  await page.getByLabel('Standard input').fill('one');
  await page.getByLabel('Standard input').press('Enter');
  await expect(page.getByTestId('status-badge')).toHaveText('completed');
  // What was typed shows after the prompt, as a terminal shows it, and
  // the answer on its own row.
  await expect(log.getByText('> one', { exact: true })).toBeVisible();
  await expect(log.getByText('last one', { exact: true })).toBeVisible();

  const final = await client.until('the final update', () =>
    client.frames.find((f) => f.type === 'task:update' && f.payload.status === 'completed'));
  expect(final.payload.metadata.exitCode).toBe(0);
  const logs = client.frames.filter((f) => f.type === 'task:log');
  const texts = logs.map((f) => f.payload.log);
  const expected = [...Array.from({ length: 50 }, (_, i) => `count ${i + 1}`), 'more? ', 'last one', 'oops'];
  // In order within a stream; stdout and stderr are two pipes, so the
  // last two may come either way round.
  expect(texts.slice(0, 51)).toEqual(expected.slice(0, 51));
  expect(texts.slice(51).sort()).toEqual(['last one', 'oops']);
  expect(logs.find((f) => f.payload.log === 'oops').payload.level).toBe('warning');
  // Every log came before the final update.
  expect(client.frames.indexOf(final)).toBeGreaterThan(client.frames.indexOf(logs[logs.length - 1]));
  await shot(page, 'execution');

  // Revoked on the page: the client is told and its socket closes.
  await page.goto('/api-keys');
  await page.waitForLoadState('networkidle');
  // Revoking asks first.
  page.once('dialog', (d) => d.accept());
  await page.getByTestId('api-key').filter({ hasText: 'watcher' }).getByRole('button', { name: 'Revoke' }).click();
  await expect(page.getByTestId('api-key').filter({ hasText: 'watcher' })).toHaveAttribute('data-revoked', 'true');
  await client.until('the refusal', () => client.frames.find((f) => f.type === 'error' && f.payload.code === 'INVALID_API_KEY'));
  await client.until('the close', () => client.closeCode);
  expect(client.closeCode).toBe(1008);
  res = await request.get('/api/v1/agents', { headers });
  expect(res.status()).toBe(401);
  client.close();
});

test('the API keys page reads well on a phone and in the dark', async ({ page, context }) => {
  await signIn(page);
  await page.goto('/api-keys');
  await page.getByTestId('api-key-name').fill('ci bot');
  await page.getByRole('button', { name: 'Create key' }).click();
  await expect(page.getByTestId('new-api-key')).toBeVisible();
  await page.setViewportSize({ width: 390, height: 844 });
  await shot(page, 'api-keys-phone');
  const url = new URL(page.url());
  await context.addCookies([{ name: 'yagura_theme', value: 'dark', domain: url.hostname, path: '/' }]);
  await page.reload();
  await expect(page.locator('html')).toHaveClass(/dark/);
  await shot(page, 'api-keys-phone-dark');
  await page.setViewportSize({ width: 1280, height: 800 });
  await shot(page, 'api-keys-dark');
});

test('the API reference is linked from the API keys page and reads well everywhere', async ({ page, context, request }) => {
  // The page is long (every operation and schema): screenshots show the
  // viewport, not the whole page.
  const view = (name: string) => page.screenshot({ path: `screenshots/dialects-${name}.png` });
  await signIn(page);
  await page.goto('/api-keys');
  await page.getByTestId('api-reference').click();
  await expect(page).toHaveURL(/\/api\/v1\/reference$/);
  await expect(page.getByRole('heading', { level: 1 })).toContainText('Yagura REST API');
  // Every operation of the document has a section; its schema links lead
  // to the schema's section.
  const doc = await (await request.get('/api/v1/openapi.json')).json();
  let operations = 0;
  for (const item of Object.values<any>(doc.paths)) {
    operations += ['get', 'put', 'post', 'delete', 'patch'].filter((m) => item[m]).length;
  }
  await expect(page.locator('section.op')).toHaveCount(operations);
  await expect(page.getByText('/api/v1/executions/{id}/log').first()).toBeVisible();
  await page.locator('a[href="#schema-Execution"]').first().click();
  await expect(page).toHaveURL(/#schema-Execution$/);
  await expect(page.locator('#schema-Execution')).toBeInViewport();
  await view('api-reference');
  // A phone: nothing scrolls sideways but the tables' own boxes.
  await page.setViewportSize({ width: 390, height: 844 });
  await page.goto('/api/v1/reference');
  const wide = await page.evaluate(() => document.documentElement.scrollWidth);
  expect(wide).toBeLessThanOrEqual(390);
  await view('api-reference-phone');
  const url = new URL(page.url());
  await context.addCookies([{ name: 'yagura_theme', value: 'dark', domain: url.hostname, path: '/' }]);
  await page.reload();
  await expect(page.locator('html')).toHaveClass(/dark/);
  await view('api-reference-phone-dark');
  await page.setViewportSize({ width: 1280, height: 800 });
  await view('api-reference-dark');
});
