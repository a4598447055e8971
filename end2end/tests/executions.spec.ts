import { test, expect, type Page } from '@playwright/test';

// Agents and executions in the hydrated app: define an agent, run it, watch
// its output and progress arrive live, answer it on stdin, reload mid-run,
// cancel a run.
test.describe.configure({ mode: 'serial' });

const ADMIN = { username: 'admin', password: 'correct horse battery' };

// Prints numbered lines with progress markers, asks a question on stdin,
// then reports a result. One argument per line in the form.
const SCRIPT = [
  'echo start',
  'echo "::progress 30 Warming up"',
  'i=1; while [ $i -le 40 ]; do echo "line $i"; i=$((i+1)); sleep 0.02; done',
  'echo "::progress 60 Waiting for input"',
  'printf "Your answer? "',
  'read answer',
  'echo "you said $answer" >&2',
  'echo "::progress 100 Done"',
  `echo '::result {"ok": true, "filesChanged": 1}'`,
].join('; ');

const SLOW = 'i=1; while [ $i -le 600 ]; do echo "tick $i"; i=$((i+1)); sleep 0.05; done';

async function shot(page: Page, name: string) {
  await page.screenshot({ path: `screenshots/executions-${name}.png`, fullPage: true });
}

async function signIn(page: Page) {
  await page.goto('/login');
  await page.waitForLoadState('networkidle');
  await page.getByLabel('Username').fill(ADMIN.username);
  await page.getByLabel('Password').fill(ADMIN.password);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await expect(page.getByTestId('connection-indicator')).toHaveAttribute('data-status', 'connected');
}

async function createAgent(page: Page, name: string, script: string) {
  await page.goto('/agents/new');
  await page.waitForLoadState('networkidle');
  await page.getByLabel('Name').fill(name);
  await page.getByLabel('Type').selectOption('Custom');
  await page.getByLabel('Command, one argument per line').fill(['sh', '-c', script].join('\n'));
  await page.getByRole('button', { name: 'Save agent' }).click();
  await expect(page).toHaveURL(/\/agents$/);
  await expect(page.getByTestId('agent-card').filter({ hasText: name })).toBeVisible();
}

async function run(page: Page, name: string, prompt: string) {
  const card = page.getByTestId('agent-card').filter({ hasText: name });
  await card.getByLabel(`Prompt for ${name}`).fill(prompt);
  await card.getByRole('button', { name: 'Run' }).click();
  await expect(page).toHaveURL(/\/executions\/[0-9a-f-]{36}$/);
}

test.beforeAll(async ({ request }) => {
  const res = await request.post('/api/v1/setup', { data: ADMIN });
  expect([201, 409]).toContain(res.status());
});

test('an agent runs live: output, progress, stdin and result', async ({ page }) => {
  await signIn(page);
  await createAgent(page, 'Echo script', SCRIPT);
  await shot(page, 'agents');
  await run(page, 'Echo script', 'say hello');

  const log = page.getByTestId('log-viewport');
  await expect(log.getByText('line 40', { exact: true })).toBeVisible();
  await expect(page.getByTestId('current-step')).toHaveText('Waiting for input');
  await expect(page.getByTestId('progress-value')).toHaveText('60%');
  await expect(page.getByTestId('status-badge')).toHaveText('running');
  // The prompt without a newline shows after the 50 ms partial-line flush.
  await expect(log.getByText('Your answer?')).toBeVisible();
  await shot(page, 'waiting');

  await page.getByLabel('Standard input').fill('hello');
  await page.getByLabel('Standard input').press('Enter');
  await expect(log.getByText('you said hello')).toBeVisible();
  await expect(page.getByTestId('status-badge')).toHaveText('completed');
  await expect(page.getByTestId('progress-value')).toHaveText('100%');
  await expect(page.getByTestId('execution-result')).toContainText('"filesChanged": 1');
  await expect(page.getByTestId('exit-code')).toHaveText('code 0');
  // stderr is marked as such.
  await expect(log.locator('[data-stream="stderr"]', { hasText: 'you said hello' })).toBeVisible();
  await shot(page, 'completed');

  // The list shows it, and the filter finds it.
  await page.goto('/executions?status=completed');
  await expect(page.getByTestId('execution-row').first()).toContainText('Echo script');
});

test('reloading mid-run shows the whole log so far, then cancel stops it', async ({ page }) => {
  await signIn(page);
  await createAgent(page, 'Slow ticker', SLOW);
  await run(page, 'Slow ticker', 'tick');
  const count = page.getByTestId('log-count');
  await expect(page.getByTestId('log-viewport').getByText('tick 20', { exact: true })).toBeVisible();

  await page.reload();
  await expect(page.getByTestId('connection-indicator')).toHaveAttribute('data-status', 'connected');
  // Everything printed before the reload is back, and more keeps coming.
  await expect
    .poll(async () => parseInt((await count.textContent()) ?? '0', 10), { timeout: 10_000 })
    .toBeGreaterThan(25);
  const before = parseInt((await count.textContent()) ?? '0', 10);
  await expect
    .poll(async () => parseInt((await count.textContent()) ?? '0', 10), { timeout: 10_000 })
    .toBeGreaterThan(before);
  // No line is missing or doubled: scroll to the top and find tick 1 once.
  await page.getByTestId('log-viewport').evaluate((el) => (el.scrollTop = 0));
  await expect(page.getByTestId('log-viewport').getByText('tick 1', { exact: true })).toHaveCount(1);
  await shot(page, 'reloaded');

  await page.getByRole('button', { name: 'Cancel' }).click();
  await expect(page.getByTestId('status-badge')).toHaveText('cancelled');
  const final = parseInt((await count.textContent()) ?? '0', 10);
  expect(final).toBeLessThan(600);

  // The dashboard counts today's runs.
  await page.goto('/');
  await expect(page.getByTestId('today-completed')).toContainText('1');
  await expect(page.getByTestId('today-cancelled')).toContainText('1');
  await shot(page, 'dashboard');
});

test('100,000 lines: all arrive, only the visible ones are in the page', async ({ page }) => {
  await signIn(page);
  // Line-buffered, so that a busy machine cannot split a line across two
  // writes (a partial line is shown on its own after 50 ms, by design).
  await createAgent(page, 'Hundred thousand', 'stdbuf -oL seq 1 100000');
  await run(page, 'Hundred thousand', '');
  await expect(page.getByTestId('status-badge')).toHaveText('completed', { timeout: 30_000 });
  await expect(page.getByTestId('log-count')).toHaveText('100000 lines', { timeout: 30_000 });
  // Following: the last line is in view, and the page holds a window, not 100,000 rows.
  const viewport = page.getByTestId('log-viewport');
  await expect(viewport.getByText('100000', { exact: true })).toBeVisible();
  expect(await viewport.getByTestId('log-line').count()).toBeLessThan(400);
  // Scrolling to the top brings the first line back; search narrows the view.
  await viewport.evaluate((el) => (el.scrollTop = 0));
  await expect(viewport.getByText('1', { exact: true })).toBeVisible();
  await page.getByLabel('Search the log').fill('99999');
  await expect(page.getByTestId('log-count')).toHaveText('1 line');
  await shot(page, 'hundred-thousand');
});

test('the agent form keeps secrets back and shows what the sandbox allows', async ({ page }) => {
  await signIn(page);
  await page.goto('/agents/new');
  await page.waitForLoadState('networkidle');
  await page.getByLabel('Preset').selectOption('claude');
  // The preset fills in where its CLI keeps its sign-in, and puts `--` before the prompt.
  await expect(page.getByLabel('Sandbox paths, one per line')).toHaveValue(/~\/\.claude/);
  await expect(page.getByTestId('command-warning')).toHaveCount(0);
  await page.getByLabel('Name').fill('Claude reviewer');
  await page.getByLabel('Environment, KEY=VALUE per line').fill('ANTHROPIC_API_KEY=sk-ant-e2e-secret');
  await page.getByRole('button', { name: 'Save agent' }).click();
  await expect(page).toHaveURL(/\/agents$/);
  const card = page.getByTestId('agent-card').filter({ hasText: 'Claude reviewer' });
  await card.getByRole('link', { name: 'Edit' }).click();
  await expect(page).toHaveURL(/\/agents\/[0-9a-f-]{36}$/);
  await page.waitForLoadState('networkidle');
  // The value never comes back to the browser.
  await expect(page.getByLabel('Environment, KEY=VALUE per line')).toHaveValue('ANTHROPIC_API_KEY=********');
  expect(await page.content()).not.toContain('sk-ant-e2e-secret');
  // A prompt standing alone before `--` is flagged.
  await page.getByLabel('Command, one argument per line').fill(['mycli', '{prompt}'].join('\n'));
  await expect(page.getByTestId('command-warning')).toContainText('{prompt}');
  await shot(page, 'agent-form');
  await page.emulateMedia({ colorScheme: 'dark' });
  await page.reload();
  await page.waitForLoadState('networkidle');
  await shot(page, 'agent-form-dark');
  await page.setViewportSize({ width: 390, height: 844 });
  await shot(page, 'agent-form-phone-dark');
  await page.emulateMedia({ colorScheme: 'light' });
  await page.reload();
  await shot(page, 'agent-form-phone');
  // Saved as shown, the key is kept (the next run still gets it).
  await page.getByRole('button', { name: 'Save agent' }).click();
  await expect(page).toHaveURL(/\/agents$/);
});
