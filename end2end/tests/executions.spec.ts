import { execFileSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
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
  await page.getByTestId('command').fill(['sh', '-c', script].join('\n'));
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
  // A prompt and silence: the page says it waits for input.
  await expect(page.getByTestId('waiting-input')).toBeVisible();
  await shot(page, 'waiting');

  await page.getByLabel('Standard input').fill('hello');
  await page.getByLabel('Standard input').press('Enter');
  await expect(log.getByText('you said hello')).toBeVisible();
  // What was typed shows in the log, in order.
  await expect(log.locator('[data-stream="stdin"]', { hasText: '> hello' })).toBeVisible();
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
    .poll(async () => parseInt(((await count.textContent()) ?? '0').replace(/,/g, ''), 10), { timeout: 10_000 })
    .toBeGreaterThan(25);
  const before = parseInt(((await count.textContent()) ?? '0').replace(/,/g, ''), 10);
  await expect
    .poll(async () => parseInt(((await count.textContent()) ?? '0').replace(/,/g, ''), 10), { timeout: 10_000 })
    .toBeGreaterThan(before);
  // No line is missing or doubled: scroll to the top and find tick 1 once.
  await page.getByTestId('log-viewport').evaluate((el) => (el.scrollTop = 0));
  await expect(page.getByTestId('log-viewport').getByText('tick 1', { exact: true })).toHaveCount(1);
  await shot(page, 'reloaded');

  // The times are live: started is filled in without a reload, and the
  // elapsed time counts up.
  await expect(page.getByTestId('started-at')).not.toHaveText('—');
  const elapsed = page.getByTestId('elapsed');
  const ms = async () => parseInt((await elapsed.getAttribute('data-ms')) ?? '0', 10) || 0;
  const first = await ms();
  await expect.poll(ms, { timeout: 5_000 }).toBeGreaterThan(first + 900);
  await expect(elapsed).toHaveText(/\d/);

  // Cancelling asks first: saying no leaves the run alone.
  page.once('dialog', (d) => d.dismiss());
  await page.getByRole('button', { name: 'Cancel' }).click();
  await page.waitForTimeout(500);
  await expect(page.getByTestId('status-badge')).toHaveText('running');
  page.once('dialog', (d) => d.accept());
  await page.getByRole('button', { name: 'Cancel' }).click();
  await expect(page.getByTestId('status-badge')).toHaveText('cancelled');
  // Stopped on request: said so, not "signal 15".
  await expect(page.getByTestId('exit-code')).toHaveText('cancelled');
  const final = parseInt(((await count.textContent()) ?? '0').replace(/,/g, ''), 10);
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
  await expect(page.getByTestId('log-count')).toHaveText('100,000 lines', { timeout: 30_000 });
  // Following: the last line is in view, and the page holds a window, not 100,000 rows.
  const viewport = page.getByTestId('log-viewport');
  await expect(viewport.locator('[data-line="100000"]')).toBeVisible();
  await expect(viewport.locator('[data-line="100000"]').getByTestId('line-text')).toHaveText('100000');
  expect(await viewport.getByTestId('log-line').count()).toBeLessThan(400);
  // Scrolling to the top brings the first line back; a search jumps to its match.
  await viewport.evaluate((el) => (el.scrollTop = 0));
  await expect(viewport.locator('[data-line="1"]')).toBeVisible();
  await page.getByLabel('Search the log').fill('99999');
  await expect(page.getByTestId('search-count')).toHaveText('1 of 1');
  await expect(viewport.getByTestId('log-match')).toHaveText('99999');
  await expect(viewport.locator('[data-line="99999"]')).toBeVisible();
  await shot(page, 'hundred-thousand');
});

test('the agent form keeps secrets back and shows what the sandbox allows', async ({ page }) => {
  // Three full page loads and four screenshots on a busy machine.
  test.setTimeout(60_000);
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
  await page.getByTestId('command').fill(['mycli', '{prompt}'].join('\n'));
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
  await page.waitForLoadState('networkidle');
  await shot(page, 'agent-form-phone');
  // Saved as shown, the key is kept (the next run still gets it). The
  // button is enabled once the page is live.
  await expect(page.getByRole('button', { name: 'Save agent' })).toBeEnabled();
  await page.getByRole('button', { name: 'Save agent' }).click();
  await expect(page).toHaveURL(/\/agents$/);
});

// A log that reads like GitHub Actions': numbers and links to lines,
// times, a search that highlights and jumps, foldable groups.
const GROUPED = [
  'echo "before"',
  'echo "::group::Install"',
  'i=1; while [ $i -le 30 ]; do echo "install step $i"; i=$((i+1)); done',
  'echo "::endgroup::"',
  'echo "needle one"',
  'i=1; while [ $i -le 60 ]; do echo "work $i"; i=$((i+1)); done',
  'echo "a NEEDLE two"',
  'echo "::progress 100 Done"',
  'echo "needle three"',
].join('; ');

test('the log viewer: line links, times, search, folded groups', async ({ page }) => {
  await signIn(page);
  await createAgent(page, 'Grouped', GROUPED);
  await run(page, 'Grouped', '');
  await expect(page.getByTestId('status-badge')).toHaveText('completed');
  const viewport = page.getByTestId('log-viewport');
  await expect(viewport.getByText('needle three')).toBeVisible();
  // Marker lines Yagura reads are kept, dimmed.
  await expect(viewport.getByTestId('log-line').filter({ hasText: '::progress 100 Done' })).toHaveClass(/opacity-50/);

  // Folding a group hides its lines; the header stays.
  await viewport.evaluate((el) => (el.scrollTop = 0));
  const group = viewport.getByTestId('log-group');
  await expect(group).toContainText('Install');
  await expect(viewport.getByText('install step 3', { exact: true })).toBeVisible();
  await group.click();
  await expect(group).toHaveAttribute('aria-expanded', 'false');
  await expect(viewport.getByText('install step 3', { exact: true })).toHaveCount(0);
  await expect(viewport.getByText('needle one')).toBeVisible();
  await shot(page, 'log-folded');
  await group.click();
  await expect(viewport.getByText('install step 3', { exact: true })).toBeVisible();

  // Search highlights every match and jumps between them.
  const search = page.getByLabel('Search the log');
  await search.fill('needle');
  await expect(page.getByTestId('search-count')).toHaveText('1 of 3');
  await expect(viewport.getByTestId('log-match').first()).toBeVisible();
  await search.press('Enter');
  await expect(page.getByTestId('search-count')).toHaveText('2 of 3');
  await expect(viewport.getByTestId('log-match').filter({ hasText: /^NEEDLE$/ })).toBeVisible();
  await search.press('Shift+Enter');
  await expect(page.getByTestId('search-count')).toHaveText('1 of 3');
  // Nothing is filtered away: the lines around a match are still there.
  await expect(viewport.getByText('work 1', { exact: true })).toBeVisible();
  await shot(page, 'log-search');
  await search.fill('');

  // Times per line, on request.
  await expect(viewport.getByTestId('line-time')).toHaveCount(0);
  await page.getByTestId('toggle-timestamps').check();
  await expect(viewport.getByTestId('line-time').first()).toHaveText(/^\d\d:\d\d:\d\d\.\d{3}$/);
  // … and in the download.
  await expect(page.getByTestId('log-download')).toHaveAttribute('href', /\?timestamps=true$/);

  // A line number links to its line; shift-click makes a range.
  await viewport.evaluate((el) => (el.scrollTop = 0));
  await viewport.locator('[data-line="3"]').getByTestId('line-number').click();
  await expect(page).toHaveURL(/#L3$/);
  await viewport.locator('[data-line="6"]').getByTestId('line-number').click({ modifiers: ['Shift'] });
  await expect(page).toHaveURL(/#L3-L6$/);
  await expect(viewport.locator('[data-selected="true"]')).toHaveCount(4);
  await shot(page, 'log-range');

  // The link opens with the range selected and in view.
  await page.reload();
  await expect(page.getByTestId('status-badge')).toHaveText('completed');
  await expect(viewport.locator('[data-line="3"]')).toHaveAttribute('data-selected', 'true');
  await expect(viewport.locator('[data-selected="true"]')).toHaveCount(4);
  await expect(viewport.locator('[data-line="6"]')).toBeVisible();

  // Phone width and dark mode, for the screenshots.
  await page.setViewportSize({ width: 390, height: 844 });
  await shot(page, 'log-phone');
  // The theme follows the system's at load.
  await page.emulateMedia({ colorScheme: 'dark' });
  await page.reload();
  await expect(viewport.locator('[data-selected="true"]')).toHaveCount(4);
  await shot(page, 'log-phone-dark');
  await page.emulateMedia({ colorScheme: 'light' });
  await page.setViewportSize({ width: 1280, height: 800 });

  // Run again: the same agent and prompt, a new run.
  const before = page.url().split('#')[0];
  await page.getByTestId('run-again').click();
  await expect.poll(() => page.url().split('#')[0]).not.toBe(before);
  await expect(page.getByTestId('status-badge')).toHaveText('completed');
  await expect(page.getByTestId('log-viewport').getByText('needle three')).toBeVisible();
  await shot(page, 'execution-desktop');
});

test('an address that names nothing answers 404 with a way on', async ({ page }) => {
  await signIn(page);
  const missing = '00000000-0000-4000-8000-000000000000';
  for (const [path, title, back] of [
    [`/executions/${missing}`, 'Execution not found', 'All executions'],
    ['/executions/not-an-id', 'Execution not found', 'All executions'],
    [`/agents/${missing}`, 'Agent not found', 'All agents'],
    ['/agents/not-an-id', 'Agent not found', 'All agents'],
    [`/issues/${missing}`, 'Issue not found', 'All issues'],
    [`/workflows/${missing}`, 'Workflow not found', 'All workflows'],
    [`/workflow-runs/${missing}`, 'Workflow run not found', 'All workflows'],
  ]) {
    const res = await page.goto(path);
    expect(res?.status(), path).toBe(404);
    await expect(page.getByRole('heading', { level: 1 })).toHaveText(title);
    const box = page.getByTestId('not-found');
    await expect(box.getByRole('link', { name: back })).toBeVisible();
    await expect(box.getByRole('link', { name: 'Dashboard' })).toBeVisible();
    // Never a form for something new.
    await expect(page.getByRole('button', { name: 'Save agent' })).toHaveCount(0);
    // Nor the parts of a page that exists.
    await expect(page.getByRole('heading', { name: 'History' })).toHaveCount(0);
  }
  await shot(page, 'not-found');
});

test('on a phone the Agents page fits the screen, long commands and all', async ({ page }) => {
  await signIn(page);
  const long = `echo ${'a-very-long-argument-'.repeat(30)}`;
  await createAgent(page, 'Long command', long);
  await page.setViewportSize({ width: 390, height: 844 });
  await page.goto('/agents');
  await page.waitForLoadState('networkidle');
  const card = page.getByTestId('agent-card').filter({ hasText: 'Long command' });
  await expect(card).toBeVisible();
  const width = await page.evaluate(() => document.documentElement.scrollWidth);
  expect(width).toBeLessThanOrEqual(390);
  // Run and Edit are on the screen, not off to the right.
  await card.scrollIntoViewIfNeeded();
  for (const control of [card.getByRole('button', { name: 'Run' }), card.getByRole('link', { name: 'Edit' })]) {
    await expect(control).toBeInViewport();
    const box = (await control.boundingBox())!;
    expect(box.x + box.width).toBeLessThanOrEqual(390);
  }
  await shot(page, 'agents-phone');
  await page.emulateMedia({ colorScheme: 'dark' });
  await page.reload();
  await expect(card).toBeVisible();
  await shot(page, 'agents-phone-dark');
});

// Last: their runs would change the counts earlier tests check.
// Reports 1,500 tokens and 3 cents, works for two seconds, then reports
// 100 more: past a budget of 1,000 tokens per run at once.
const SPENDER = [
  `echo '::usage {"inputTokens": 1000, "outputTokens": 500, "costUsd": 0.03}'`,
  'i=0; while [ $i -lt 20 ]; do sleep 0.1; i=$((i+1)); done',
  `echo '::usage {"outputTokens": 100}'`,
  'echo spent',
].join('; ');

test('a run over its budget is paused, you are told, and it goes on when resumed', async ({ page }) => {
  await signIn(page);
  await page.goto('/agents/new');
  await page.waitForLoadState('networkidle');
  await page.getByLabel('Name').fill('Budgeted');
  await page.getByLabel('Type').selectOption('Custom');
  await page.getByTestId('command').fill(['sh', '-c', SPENDER].join('\n'));
  await page.getByLabel('Tokens per run').fill('1,000');
  await page.getByLabel('Cost per run (USD)').fill('lots');
  await page.getByRole('button', { name: 'Save agent' }).click();
  await expect(page.getByTestId('form-error')).toContainText('an amount of dollars');
  await page.getByLabel('Cost per run (USD)').fill('');
  await shot(page, 'agent-budget');
  await page.getByRole('button', { name: 'Save agent' }).click();
  await expect(page).toHaveURL(/\/agents$/);
  await run(page, 'Budgeted', 'spend');

  await expect(page.getByTestId('status-badge')).toHaveText('paused');
  await expect(page.getByTestId('tokens')).toHaveText('1.5k · $0.03');
  await expect(page.getByTestId('tokens')).toHaveAttribute('title', '1,500 tokens · $0.03');
  const log = page.getByTestId('log-viewport');
  await expect(log.getByText(/over budget: this run used 1,500 tokens; agent Budgeted allows 1,000 per run/)).toBeVisible();
  // No toast on the run's own page (it shows it): the bell has it.
  await page.getByTestId('bell').click();
  await expect(page.getByTestId('notification').filter({ hasText: 'Agent run paused: over budget' })).toBeVisible();
  await page.getByTestId('bell').click();
  await shot(page, 'over-budget');
  // Resumed, it goes on to the end; the budget does not stop it again.
  await page.getByRole('button', { name: 'Resume' }).click();
  await expect(page.getByTestId('status-badge')).toHaveText('completed', { timeout: 15_000 });
  await expect(log.getByText('spent', { exact: true })).toBeVisible();
  await expect(page.getByTestId('tokens')).toHaveAttribute('title', '1,600 tokens · $0.03');
  // A reload shows the stored figures.
  await page.reload();
  await expect(page.getByTestId('tokens')).toHaveAttribute('title', '1,600 tokens · $0.03');
  // Insights count them, light and dark, desktop and phone.
  await page.goto('/insights?days=7');
  await expect(page.getByTestId('spending-total')).toContainText('1,600 tokens · $0.03');
  await expect(page.getByTestId('spend-agents').locator('tr[data-name="Budgeted"]')).toBeVisible();
  await shot(page, 'insights-tokens');
  await page.emulateMedia({ colorScheme: 'dark' });
  await page.setViewportSize({ width: 390, height: 844 });
  await page.reload();
  await expect(page.getByTestId('tokens-per-day')).toBeVisible();
  await shot(page, 'insights-tokens-phone-dark');
  expect(await page.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(390);
  await page.setViewportSize({ width: 1280, height: 800 });
  await page.emulateMedia({ colorScheme: 'light' });
});

// Commits a change to README.md and a new Rust file in its worktree.
const COMMITTER = [
  "printf '# Widgets\\n\\nNow with a main.\\n' > README.md",
  'mkdir -p src',
  `printf 'fn main() {\\n    println!("hello");\\n}\\n' > src/main.rs`,
  'git add -A',
  'git -c user.name=Agent -c user.email=agent@example.com commit -qm "Add a main"',
].join('; ');

test('the agent\'s work is reviewed as a diff, then discarded', async ({ page, request }) => {
  // A real checkout on this machine, as a repository agents work in.
  const checkout = mkdtempSync(join(tmpdir(), 'yagura-e2e-repo-'));
  const git = (...args: string[]) => execFileSync('git', ['-C', checkout, ...args]);
  git('init', '-q', '-b', 'main');
  writeFileSync(join(checkout, 'README.md'), '# widgets\n');
  git('add', 'README.md');
  git('-c', 'user.name=T', '-c', 'user.email=t@example.com', 'commit', '-qm', 'first');
  const login = await request.post('/api/v1/auth/login', { data: ADMIN });
  const { token } = await login.json();
  const auth = { Authorization: `Bearer ${token}` };
  const repo = await (await request.post('/api/v1/repositories', { headers: auth, data: { name: 'widgets', localPath: checkout } })).json();
  const issue = await (await request.post('/api/v1/issues', { headers: auth, data: { repositoryId: repo.id, title: 'Add a main' } })).json();
  const agent = await (await request.post('/api/v1/agents', { headers: auth, data: { name: 'Committer', agentType: 'CodeGen', command: ['sh', '-c', COMMITTER] } })).json();
  const run = await (await request.post('/api/v1/executions', { headers: auth, data: { agentId: agent.id, prompt: 'go', issueId: issue.id } })).json();

  await signIn(page);
  await page.goto(`/executions/${run.id}`);
  await expect(page.getByTestId('status-badge')).toHaveText('completed');
  await page.reload();
  await page.getByTestId('execution-changes').click();
  await expect(page).toHaveURL(new RegExp(`/executions/${run.id}/changes$`));
  await expect(page.getByTestId('changes-summary')).toContainText('2 files changed in 1 commit');
  await expect(page.getByTestId('commits')).toContainText('Add a main');
  await expect(page.getByTestId('changed-file')).toHaveCount(2);
  const main = page.locator('[data-testid="file-diff"][data-path="src/main.rs"]');
  await expect(main.locator('tr[data-kind="added"]')).toHaveCount(3);
  await expect(main.locator('.hl-string').first()).toContainText('"hello"');
  const readme = page.locator('[data-testid="file-diff"][data-path="README.md"]');
  await expect(readme.locator('tr[data-kind="removed"]')).toContainText('# widgets');
  await shot(page, 'changes');
  await page.emulateMedia({ colorScheme: 'dark' });
  await page.setViewportSize({ width: 390, height: 844 });
  await shot(page, 'changes-phone-dark');
  expect(await page.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(390);
  await page.setViewportSize({ width: 1280, height: 800 });
  await shot(page, 'changes-dark');
  await page.emulateMedia({ colorScheme: 'light' });
  await page.setViewportSize({ width: 390, height: 844 });
  await shot(page, 'changes-phone');
  await page.setViewportSize({ width: 1280, height: 800 });

  page.once('dialog', (dialog) => dialog.accept());
  await page.getByTestId('discard-changes').click();
  await expect(page.getByTestId('changes-summary')).toContainText('The branch is gone');
  expect(git('branch', '--list', 'yagura/*').toString().trim()).toBe('');
});
