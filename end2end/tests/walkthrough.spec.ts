import { test, expect, type APIRequestContext, type Page } from '@playwright/test';

// What a first-time user ran into, each fixed and held here: agent commands
// that are hard to get wrong, workflows that ask for their issue, menus that
// close, toasts that stay out of the way, the runner command with its
// token, times people read, lists with context, a log that wraps, copies and
// goes full screen, a finished run's log served by the server, and phones.
test.describe.configure({ mode: 'serial' });

const ADMIN = { username: 'admin', password: 'correct horse battery' };

async function shot(page: Page, name: string) {
  await page.screenshot({ path: `screenshots/walkthrough-${name}.png`, fullPage: true });
}

async function token(request: APIRequestContext): Promise<string> {
  const res = await request.post('/api/v1/auth/login', { data: ADMIN });
  expect(res.status()).toBe(200);
  return (await res.json()).token;
}

async function api(request: APIRequestContext, path: string, data: unknown) {
  const res = await request.post(path, { headers: { Authorization: `Bearer ${await token(request)}` }, data });
  expect(res.status(), await res.text()).toBe(201);
  return res.json();
}

async function signIn(page: Page) {
  await page.goto('/login');
  await page.waitForLoadState('networkidle');
  await page.getByLabel('Username').fill(ADMIN.username);
  await page.getByLabel('Password').fill(ADMIN.password);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await expect(page).toHaveURL(/\/$/);
  await expect(page.getByTestId('connection-indicator')).toHaveAttribute('data-status', 'connected');
}

test.beforeAll(async ({ request }) => {
  const res = await request.post('/api/v1/setup', { data: ADMIN });
  expect([201, 409]).toContain(res.status());
});

test('a command pasted on one line is caught, becomes a shell script, and a test run proves it', async ({ page }) => {
  await signIn(page);
  await page.goto('/agents/new');
  await page.waitForLoadState('networkidle');
  await page.getByLabel('Name').fill('Pasted');
  const command = page.getByTestId('command');
  // The whole command line on the program's line: warned, and the program
  // does not exist on this server.
  await command.fill(`sh -c 'echo "hello from $1"'`);
  await expect(page.getByTestId('command-warning').first()).toContainText('first line');
  // (The warning says it all: no program has such a name.)
  await expect(page.getByTestId('program-check')).toHaveCount(0);
  await shot(page, 'agent-form-pasted');
  // One click makes it a shell script; the prompt is "$1", never pasted in.
  await page.getByTestId('make-shell').click();
  await expect(page.getByTestId('mode-shell')).toBeChecked();
  await command.fill('echo "hello from $1"\necho "::progress 100 Done"');
  await expect(page.getByTestId('command-warning')).toHaveCount(0);
  await expect(page.getByTestId('program-check')).toHaveAttribute('data-found', 'true');
  // A placeholder written inside shell code is refused as a habit: warned.
  await command.fill('echo {prompt}');
  await expect(page.getByTestId('command-warning')).toContainText('shell code');
  await command.fill('echo "hello from $1"');
  await shot(page, 'agent-form-shell');
  await page.setViewportSize({ width: 390, height: 844 });
  await shot(page, 'agent-form-shell-phone');
  await page.setViewportSize({ width: 1280, height: 800 });
  // "Save and test run" saves, runs it, and shows the run.
  await page.getByTestId('test-run').click();
  await expect(page).toHaveURL(/\/executions\/[0-9a-f-]{36}$/);
  await expect(page.getByTestId('log-viewport').getByText(/hello from This is a test run/)).toBeVisible();
  await expect(page.getByTestId('status-badge')).toHaveText('completed');
  await expect(page.getByTestId('argv')).toContainText(`sh -c 'echo "hello from $1"'`);

  // The card shows the command as a terminal would take it, and the runs.
  await page.goto('/agents');
  const card = page.getByTestId('agent-card').filter({ hasText: 'Pasted' });
  await expect(card.getByTestId('agent-command')).toHaveText(`sh -c 'echo "hello from $1"'`);
  await expect(card.getByTestId('agent-stats')).toContainText('1 run');
  await expect(card.getByTestId('agent-stats')).toContainText('100% succeed');
  await expect(card.getByTestId('agent-stats').getByTestId('status-badge')).toHaveText('completed');

  // A preset says whether its CLI is installed here.
  await page.goto('/agents/new');
  await page.waitForLoadState('networkidle');
  await page.getByLabel('Preset').selectOption('codex');
  const check = page.getByTestId('program-check');
  await expect(check).toHaveAttribute('data-found', /true|false/);
  if ((await check.getAttribute('data-found')) === 'false') {
    await expect(check).toContainText('not on this server');
  } else {
    await expect(check).toContainText('is on this server');
  }
  await page.getByLabel('Preset').selectOption('demo');
  await expect(page.getByTestId('program-check')).toHaveAttribute('data-found', 'true');
});

test('typed input is echoed in the log, and a prompt waiting for it is signalled', async ({ page }) => {
  await signIn(page);
  await api(page.request, '/api/v1/agents', {
    name: 'Asker',
    agentType: 'Custom',
    command: ['/bin/sh', '-c', 'printf "Name? "; read n; echo "hi $n"', 'yagura-agent', '{prompt}', '{issue.title}', '{issue.body}'],
  });
  await page.goto('/agents');
  const card = page.getByTestId('agent-card').filter({ hasText: 'Asker' });
  await card.getByRole('button', { name: 'Run' }).click();
  await expect(page).toHaveURL(/\/executions\/[0-9a-f-]{36}$/);
  await expect(page.getByTestId('waiting-input')).toBeVisible();
  // The header stays on screen when the page scrolls.
  await expect(page.getByTestId('run-header')).toHaveCSS('position', 'sticky');
  await shot(page, 'waiting-input');
  await page.getByLabel('Standard input').fill('Ada');
  await page.getByLabel('Standard input').press('Enter');
  const log = page.getByTestId('log-viewport');
  const echo = log.locator('[data-stream="stdin"]', { hasText: '> Ada' });
  await expect(echo).toBeVisible();
  const answer = log.getByTestId('log-line').filter({ hasText: 'hi Ada' });
  await expect(answer).toBeVisible();
  // In the order it happened: the prompt, what was typed, the answer.
  const at = async (row: typeof echo) => parseInt((await row.getAttribute('data-line'))!, 10);
  const prompt = log.getByTestId('log-line').filter({ hasText: 'Name?' });
  expect(await at(prompt)).toBeLessThan(await at(echo));
  expect(await at(echo)).toBeLessThan(await at(answer));
  await expect(prompt).not.toContainText('hi Ada');
  await expect(page.getByTestId('status-badge')).toHaveText('completed');
  await expect(page.getByTestId('waiting-input')).toHaveCount(0);
});

test('the log wraps, copies and goes full screen', async ({ page, context }) => {
  await context.grantPermissions(['clipboard-read', 'clipboard-write']);
  await signIn(page);
  const long = 'x'.repeat(400);
  const agent = await api(page.request, '/api/v1/agents', {
    name: 'Long lines',
    agentType: 'Custom',
    command: ['sh', '-c', `echo first; echo "${long} END"; echo last; printf '\\033[38;2;255;135;0morange\\033[0m \\033[4;3munder\\033[24;23m \\033[38;5;196mred\\033[0m\\n'`],
  });
  const run = await api(page.request, '/api/v1/executions', { agentId: agent.id, prompt: '' });
  await page.goto(`/executions/${run.id}`);
  await expect(page.getByTestId('status-badge')).toHaveText('completed');
  const viewport = page.getByTestId('log-viewport');
  const row = viewport.locator('[data-line="2"]');
  await expect(row).toBeVisible();
  const flat = (await row.boundingBox())!.height;
  await page.getByTestId('toggle-wrap').check();
  await expect.poll(async () => (await row.boundingBox())!.height).toBeGreaterThan(flat * 2);
  // The end of the long line is on screen without scrolling sideways.
  await expect(row.getByText(/END$/)).toBeInViewport({ ratio: 1 });
  await shot(page, 'log-wrapped');
  // Full ANSI: truecolor, 256 colours, underline and italics.
  await expect(viewport.locator('span[style*="color:#ff8700"]', { hasText: 'orange' })).toBeVisible();
  await expect(viewport.locator('span[style*="color:#ff0000"]', { hasText: 'red' })).toBeVisible();
  const under = viewport.locator('span.underline', { hasText: 'under' });
  await expect(under).toHaveClass(/italic/);
  // Copy: the whole log, then only the selected line.
  await page.getByTestId('log-copy').click();
  await expect(page.getByTestId('log-copy')).toHaveText('Copied');
  expect(await page.evaluate(() => navigator.clipboard.readText())).toContain(`first\n${long} END\nlast\n`);
  await viewport.locator('[data-line="3"]').getByTestId('line-number').click();
  await page.getByTestId('log-copy').click();
  await expect.poll(() => page.evaluate(() => navigator.clipboard.readText())).toBe('last');
  // Full screen, and back.
  await page.getByTestId('log-full-screen').click();
  await expect.poll(() => page.evaluate(() => document.fullscreenElement?.getAttribute('data-testid'))).toBe('log-viewer');
  await expect(page.getByTestId('log-full-screen')).toHaveText('Exit full screen');
  await page.getByTestId('log-full-screen').click();
  await expect.poll(() => page.evaluate(() => document.fullscreenElement)).toBeNull();
});

test('a workflow whose prompts use the issue asks for one, and confirms', async ({ page }) => {
  await signIn(page);
  const agent = await api(page.request, '/api/v1/agents', { name: 'Echo', agentType: 'Custom', command: ['echo', '{prompt}'] });
  const repo = await api(page.request, '/api/v1/repositories', { name: 'walk' });
  await api(page.request, '/api/v1/issues', { repositoryId: repo.id, title: 'Fix the login' });
  await api(page.request, '/api/v1/workflows', {
    name: 'Needs issue',
    definition: { stages: [{ name: 'Only', steps: [{ key: 'fix', agentId: agent.id, prompt: 'fix {issue.title}' }] }] },
  });
  await api(page.request, '/api/v1/workflows', {
    name: 'Free',
    definition: { stages: [{ name: 'Only', steps: [{ key: 'say', agentId: agent.id, prompt: 'hello' }] }] },
  });
  // Without an issue, the API refuses it with a reason.
  const auth = { Authorization: `Bearer ${await token(page.request)}` };
  const workflows = await (await page.request.get('/api/v1/workflows', { headers: auth })).json();
  const needsId = workflows.find((w: { name: string }) => w.name === 'Needs issue').id;
  const refused = await page.request.post(`/api/v1/workflows/${needsId}/runs`, { headers: auth, data: {} });
  expect(refused.status()).toBe(422);
  expect(await refused.text()).toContain('choose an issue');

  await page.goto('/workflows');
  await page.waitForLoadState('networkidle');
  const needs = page.getByTestId('workflow-card').filter({ hasText: 'Needs issue' });
  // No "No issue" to choose: the open issue is chosen.
  await expect(needs.getByLabel('Issue').locator('option')).toHaveText(['#1 Fix the login']);
  const free = page.getByTestId('workflow-card').filter({ hasText: 'Free' });
  await expect(free.getByLabel('Issue').locator('option').first()).toHaveText('No issue');
  await shot(page, 'workflows-run-forms');
  // Saying no starts nothing; saying yes starts it on the issue.
  let asked = '';
  page.once('dialog', (d) => {
    asked = d.message();
    d.dismiss();
  });
  await needs.getByRole('button', { name: 'Run' }).click();
  await expect.poll(() => asked).toContain('#1 Fix the login');
  await page.waitForTimeout(500);
  await expect(page).toHaveURL(/\/workflows$/);
  const runs = await (await page.request.get('/api/v1/workflow-runs', { headers: auth })).json();
  expect(runs).toEqual([]);
  page.once('dialog', (d) => d.accept());
  await needs.getByRole('button', { name: 'Run' }).click();
  await expect(page).toHaveURL(/\/workflow-runs\/[0-9a-f-]{36}$/);
  await expect(page.getByText('#1 Fix the login').first()).toBeVisible();
});

test('the bell closes on an outside click and on Escape, and marks one read', async ({ page, context }) => {
  await context.grantPermissions(['notifications']);
  await signIn(page);
  // A finished run leaves a notification.
  const agent = await api(page.request, '/api/v1/agents', { name: 'Notifier', agentType: 'Custom', command: ['sh', '-c', 'exit 3'] });
  await api(page.request, '/api/v1/executions', { agentId: agent.id, prompt: '' });
  await expect(page.getByTestId('unread-count')).toBeVisible({ timeout: 15_000 });
  const menu = page.getByTestId('bell-menu');
  await page.getByTestId('bell').click();
  await expect(menu).toHaveAttribute('open', '');
  await page.locator('main').click({ position: { x: 5, y: 5 } });
  await expect(menu).not.toHaveAttribute('open', '');
  await page.getByTestId('bell').click();
  await expect(menu).toHaveAttribute('open', '');
  await page.keyboard.press('Escape');
  await expect(menu).not.toHaveAttribute('open', '');
  await page.getByTestId('bell').click();
  const unread = menu.locator('[data-testid="notification"][data-read="false"]');
  const before = await unread.count();
  expect(before).toBeGreaterThan(0);
  await shot(page, 'bell');
  await unread.first().getByTestId('mark-read').click();
  await expect(unread).toHaveCount(before - 1);
  // Times read as people say them, exact in the tooltip.
  const time = menu.getByTestId('time').first();
  await expect(time).toHaveText(/just now|s ago/);
  // The exact time in the tooltip is the reader's local time, not UTC.
  await expect(time).toHaveAttribute('title', /\d{1,2}:\d{2}/);
  expect(await time.getAttribute('title')).not.toContain('UTC');
  // Desktop notifications: chosen in the bell, kept by this browser.
  await menu.getByTestId('desktop-notifications').check();
  await page.reload();
  await page.waitForLoadState('networkidle');
  await page.getByTestId('bell').click();
  await expect(menu.getByTestId('desktop-notifications')).toBeChecked();
});

test('no toast about the page being watched; the runner command carries the new token', async ({ page, context }) => {
  await context.grantPermissions(['clipboard-read', 'clipboard-write']);
  await signIn(page);
  const agent = await api(page.request, '/api/v1/agents', { name: 'Quiet', agentType: 'Custom', command: ['sh', '-c', 'sleep 1; exit 1'] });
  const run = await api(page.request, '/api/v1/executions', { agentId: agent.id, prompt: '' });
  await page.goto(`/executions/${run.id}`);
  await expect(page.getByTestId('connection-indicator')).toHaveAttribute('data-status', 'connected');
  await expect(page.getByTestId('status-badge')).toHaveText('failed');
  // Its notification has arrived (the bell lists it), and no toast came.
  await expect(page.getByTestId('bell-menu').getByTestId('notification').filter({ hasText: 'Quiet' })).toHaveCount(1);
  await page.waitForTimeout(500);
  await expect(page.getByTestId('toast')).toHaveCount(0);

  await page.goto('/runners');
  await page.waitForLoadState('networkidle');
  await expect(page.getByTestId('runner-command')).toContainText('<TOKEN>');
  await page.getByLabel('Token name').fill('box');
  await page.getByRole('button', { name: 'Create token' }).click();
  const secret = (await page.getByTestId('new-token').textContent())!.trim();
  expect(secret.length).toBeGreaterThan(20);
  await expect(page.getByTestId('runner-command')).toContainText(`--token ${secret}`);
  await page.getByTestId('copy-command').click();
  await expect(page.getByTestId('copy-command')).toHaveText('Copied');
  expect(await page.evaluate(() => navigator.clipboard.readText())).toContain(`--token ${secret}`);
  await shot(page, 'runner-command');
});

test('the executions list gives each run its context, the whole row opens it', async ({ page }) => {
  await signIn(page);
  await page.goto('/executions');
  const row = page.getByTestId('execution-row').filter({ hasText: 'Echo' }).first();
  await expect(row.getByTestId('execution-context')).toContainText('#1 Fix the login');
  await expect(row.getByTestId('execution-context')).toContainText('workflow step');
  await expect(row.getByTestId('execution-context')).toContainText('by admin');
  await shot(page, 'executions-list');
  // The dashboard's activity names the agents, with times, and a reload
  // keeps it; its "Running now" tile agrees with the list beside it.
  await page.goto('/');
  await expect(page.getByTestId('activity').first()).toContainText(/Echo|Quiet|Notifier|Long lines|Asker|Pasted/);
  await expect(page.getByTestId('activity').first().getByTestId('time')).toBeVisible();
  await page.reload();
  await expect(page.getByTestId('activity').first()).toBeVisible();
  const running = await page.getByTestId('running-execution').count();
  await expect(page.getByTestId('today-running')).toContainText(String(running));
  await page.goto('/executions');
  // A click anywhere on the row (here: at its right end, on the duration)
  // opens the run.
  const box = (await row.boundingBox())!;
  await row.click({ position: { x: box.width - 12, y: box.height / 2 } });
  await expect(page).toHaveURL(/\/executions\/[0-9a-f-]{36}$/);
});

test('the people page lists accounts, and the last admin is kept', async ({ page }) => {
  await signIn(page);
  await page.goto('/people');
  await page.waitForLoadState('networkidle');
  const me = page.getByTestId('person').filter({ hasText: 'admin' });
  await expect(me).toHaveAttribute('data-active', 'true');
  await expect(me).toContainText('last signed in');
  await expect(me.getByLabel('Role of admin')).toHaveValue('admin');
  await shot(page, 'people');
  // The only admin cannot step down or be deactivated: the page says why.
  await me.getByLabel('Role of admin').selectOption('member');
  await me.getByRole('button', { name: 'Save role' }).click();
  await expect(page.getByTestId('form-error')).toContainText('last active admin');
  page.once('dialog', (d) => d.accept());
  await me.getByRole('button', { name: 'Deactivate' }).click();
  await expect(page.getByTestId('form-error')).toContainText('last active admin');
  await page.reload();
  await page.waitForLoadState('networkidle');
  await expect(me.getByLabel('Role of admin')).toHaveValue('admin');
  await expect(me).toHaveAttribute('data-active', 'true');
  await page.emulateMedia({ colorScheme: 'dark' });
  await page.reload();
  await page.setViewportSize({ width: 390, height: 844 });
  await shot(page, 'people-phone-dark');
  // The row fits the phone: no sideways scrolling.
  expect(await page.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(390);
});

test.describe('on a phone', () => {
  test.use({ viewport: { width: 390, height: 844 } });

  test('the header is one row, the menu closes on an outside tap, the issue filters fit', async ({ page }) => {
    await signIn(page);
    const header = page.locator('header');
    const height = (await header.boundingBox())!.height;
    expect(height).toBeLessThan(70);
    const menu = page.getByTestId('mobile-menu');
    await menu.locator('summary').click();
    await expect(menu).toHaveAttribute('open', '');
    await page.locator('main').click({ position: { x: 200, y: 600 } });
    await expect(menu).not.toHaveAttribute('open', '');
    // Following a link in it closes it too.
    await menu.locator('summary').click();
    await menu.getByRole('link', { name: 'Issues' }).click();
    await expect(page).toHaveURL(/\/issues$/);
    await expect(menu).not.toHaveAttribute('open', '');
    // The empty list says what is really there to do.
    await page.goto('/issues?state=closed');
    await expect(page.getByText('Nothing matches these filters')).toBeVisible();
    await page.goto('/issues');
    const width = await page.evaluate(() => document.documentElement.scrollWidth);
    expect(width).toBeLessThanOrEqual(390);
    const filters = page.getByTestId('issue-filters');
    const box = (await filters.boundingBox())!;
    expect(box.x + box.width).toBeLessThanOrEqual(390);
    await shot(page, 'issues-phone');
    await page.emulateMedia({ colorScheme: 'dark' });
    await page.reload();
    await shot(page, 'issues-phone-dark');
    await page.emulateMedia({ colorScheme: 'light' });
  });
});

test.describe('without JavaScript', () => {
  test.use({ javaScriptEnabled: false });

  test('a finished run shows its log as served, and an agent runs from its card', async ({ page }) => {
    await page.goto('/login');
    await page.getByLabel('Username').fill(ADMIN.username);
    await page.getByLabel('Password').fill(ADMIN.password);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await expect(page).toHaveURL(/\/$/);
    await page.goto('/agents');
    const card = page.getByTestId('agent-card').filter({ has: page.getByRole('heading', { name: 'Echo', exact: true }) });
    await card.getByLabel('Prompt for Echo').fill('served without scripts');
    await card.getByRole('button', { name: 'Run' }).click();
    await expect(page).toHaveURL(/\/executions\/[0-9a-f-]{36}$/);
    await expect(page.getByTestId('prompt')).toHaveText('served without scripts');
    // Once it has finished, its page comes with the log in it.
    await expect(async () => {
      await page.reload();
      await expect(page.getByTestId('status-badge')).toHaveText('completed');
      await expect(page.getByTestId('log-viewport').getByText('served without scripts')).toBeVisible();
    }).toPass({ timeout: 15_000 });
    await expect(page.getByText('No output yet.')).toHaveCount(0);
    await shot(page, 'served-log');
  });
});
