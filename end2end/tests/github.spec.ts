import { test, expect, type APIRequestContext, type Page } from '@playwright/test';
import { createHmac } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

// GitHub, live: a signed webhook delivery makes the issue appear on the
// open Issues page (issue.created), its label starts the workflow, and the
// run shows on the issue page. A small GitHub stand-in on 127.0.0.1 answers
// the API calls (repository, issues, comments, labels) and its repository
// clones from a real bare git repository. Then every page is loaded and
// must hydrate without a console error.
test.describe.configure({ mode: 'serial' });

const ADMIN = { username: 'admin', password: 'correct horse battery' };
const SECRET = 'playwright-webhook-secret';
const TOKEN = 'ghp_playwrightTOKEN000000000000000000';

let fake: Server;
let fakeUrl = '';
const comments: string[] = [];
// Issues the stand-in knows (those the tests delivered by webhook), by number.
const ghIssues: Record<number, Record<string, unknown>> = {};
// Pull requests opened on the stand-in.
const pulls: { head: string; title: string; html_url: string }[] = [];

function git(cwd: string, ...args: string[]) {
  execFileSync('git', args, {
    cwd,
    env: { ...process.env, GIT_AUTHOR_NAME: 'T', GIT_AUTHOR_EMAIL: 't@example.com', GIT_COMMITTER_NAME: 'T', GIT_COMMITTER_EMAIL: 't@example.com' },
  });
}

async function shot(page: Page, name: string) {
  await page.screenshot({ path: `screenshots/github-${name}.png`, fullPage: true });
}

async function token(request: APIRequestContext): Promise<string> {
  const res = await request.post('/api/v1/auth/login', { data: ADMIN });
  expect(res.status()).toBe(200);
  return (await res.json()).token;
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

  // The repository GitHub would clone from.
  const dir = mkdtempSync(join(tmpdir(), 'yagura-gh-'));
  const work = join(dir, 'work');
  execFileSync('mkdir', ['-p', work]);
  git(work, 'init', '-q', '-b', 'main');
  writeFileSync(join(work, 'README.md'), '# widgets\n');
  git(work, 'add', 'README.md');
  git(work, 'commit', '-q', '-m', 'first');
  const origin = join(dir, 'origin.git');
  git(dir, 'clone', '-q', '--bare', work, origin);

  fake = createServer((req, res) => {
    let body = '';
    req.on('data', (c) => (body += c));
    req.on('end', () => {
      const json = (status: number, value: unknown, headers: Record<string, string> = {}) => {
        res.writeHead(status, { 'content-type': 'application/json', ...headers });
        res.end(JSON.stringify(value));
      };
      if (req.headers.authorization !== `Bearer ${TOKEN}`) return json(401, { message: 'Bad credentials' });
      const url = new URL(req.url ?? '/', fakeUrl);
      if (req.method === 'GET' && url.pathname === '/repos/acme/widgets') {
        return json(200, {
          id: 1, name: 'widgets', full_name: 'acme/widgets', private: true, default_branch: 'main',
          url: `${fakeUrl}/repos/acme/widgets`, clone_url: origin, permissions: { push: true },
        });
      }
      if (req.method === 'GET' && url.pathname === '/repos/acme/widgets/issues') {
        return json(200, [], { etag: '"empty"' });
      }
      if (req.method === 'POST' && /\/issues\/\d+\/comments$/.test(url.pathname)) {
        comments.push(JSON.parse(body).body);
        return json(201, { id: comments.length });
      }
      if (/\/issues\/\d+\/labels/.test(url.pathname)) return json(200, []);
      if (req.method === 'POST' && url.pathname === '/repos/acme/widgets/pulls') {
        const b = JSON.parse(body);
        const pr = { number: 500 + pulls.length, head: b.head, title: b.title, html_url: `${fakeUrl}/acme/widgets/pull/${500 + pulls.length}` };
        pulls.push(pr);
        return json(201, pr);
      }
      const patched = /^\/repos\/acme\/widgets\/issues\/(\d+)$/.exec(url.pathname);
      if (req.method === 'PATCH' && patched && ghIssues[Number(patched[1])]) {
        const issue = { ...ghIssues[Number(patched[1])], ...JSON.parse(body || '{}'), updated_at: new Date().toISOString() };
        ghIssues[Number(patched[1])] = issue;
        return json(200, issue);
      }
      if (url.pathname.endsWith('/collaborators/octocat/permission')) return json(200, { permission: 'write', role_name: 'write' });
      return json(404, { message: 'Not Found' });
    });
  });
  await new Promise<void>((resolve) => fake.listen(0, '127.0.0.1', () => resolve()));
  const address = fake.address();
  fakeUrl = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`;
});

test.afterAll(async () => {
  await new Promise<void>((resolve) => (fake ? fake.close(() => resolve()) : resolve()));
});

test('a webhook delivery shows up live, and its label starts the workflow', async ({ page, request }) => {
  const auth = await token(request);
  const headers = { Authorization: `Bearer ${auth}` };
  let res = await request.put('/api/v1/settings/github', { headers, data: { webhookSecret: SECRET } });
  expect(res.status()).toBe(200);
  res = await request.post('/api/v1/repositories', {
    headers,
    data: { name: 'widgets', github: { owner: 'acme', repo: 'widgets', token: TOKEN, apiBaseUrl: fakeUrl } },
  });
  expect(res.status()).toBe(201);
  res = await request.post('/api/v1/agents', {
    headers,
    data: { name: 'Coder', agentType: 'Custom', command: ['sh', '-c', 'echo "working on $1 in $(git branch --show-current)"; sleep 1', 'sh', '{prompt}'] },
  });
  expect(res.status()).toBe(201);
  const agent = (await res.json()).id;
  res = await request.post('/api/v1/workflows', {
    headers,
    data: {
      name: 'Codegen',
      triggerLabel: 'yagura:codegen',
      definition: { stages: [{ name: 'Code', steps: [{ key: 'code', agentId: agent, prompt: 'fix {issue.title}' }] }] },
    },
  });
  expect(res.status()).toBe(201);

  await signIn(page);
  await page.goto('/issues');
  await page.waitForLoadState('networkidle');
  await expect(page.getByText('Live from GitHub')).toHaveCount(0);

  // GitHub delivers "issue opened" with the trigger label, signed.
  const payload = JSON.stringify({
    action: 'opened',
    issue: {
      number: 12, title: 'Live from GitHub', body: 'Made on **GitHub**.', state: 'open',
      labels: [{ name: 'yagura:codegen' }], assignee: null, user: { login: 'octocat' },
      html_url: `${fakeUrl}/acme/widgets/issues/12`,
    },
    repository: { full_name: 'acme/widgets' },
    sender: { login: 'octocat' },
  });
  const signature = 'sha256=' + createHmac('sha256', SECRET).update(payload).digest('hex');
  res = await request.post('/api/github/webhook', {
    headers: { 'content-type': 'application/json', 'x-github-event': 'issues', 'x-github-delivery': 'pw-1', 'x-hub-signature-256': signature },
    data: payload,
  });
  expect(res.status()).toBe(200);

  // issue.created: it appears without a reload.
  const link = page.getByRole('link', { name: 'Live from GitHub' });
  await expect(link).toBeVisible();
  await shot(page, 'issues-live');
  await link.click();
  await expect(page).toHaveURL(/\/issues\/[0-9a-f-]{36}$/);
  await expect(page.getByTestId('issue-on-github')).toHaveAttribute('href', `${fakeUrl}/acme/widgets/issues/12`);
  const run = page.locator('[data-testid="timeline-entry"][data-kind="workflow-run"]');
  await expect(run).toContainText('Codegen');
  await expect(run).toContainText(/completed|failed/, { timeout: 20_000 });
  {
    const runs = await (await request.get('/api/v1/workflow-runs', { headers })).json();
    const detail = await (await request.get(`/api/v1/workflow-runs/${runs[0].id}`, { headers })).json();
    const execution = await (await request.get(`/api/v1/executions/${detail.steps[0].executionId}`, { headers })).json();
    const events = await (await request.get(`/api/v1/executions/${detail.steps[0].executionId}/events`, { headers })).json();
    expect(detail.status, JSON.stringify({ detail, execution, events })).toBe('completed');
  }
  await shot(page, 'issue-run');

  // The run's page: its branch, and the comments went to GitHub.
  await run.getByRole('link', { name: 'Codegen' }).click();
  await expect(page.getByTestId('run-branch')).toContainText(/^yagura\/12-[0-9a-f]{8}$/);
  await expect.poll(() => comments.length, { timeout: 30_000 }).toBeGreaterThanOrEqual(2);
  expect(comments[0]).toContain('started');

  // Settings: the repository is connected, and the connection tests fine.
  await page.goto('/settings');
  await page.waitForLoadState('networkidle');
  const repo = page.locator('[data-testid="repository"][data-name="widgets"]');
  await expect(repo.getByTestId('repository-status')).toContainText('GitHub acme/widgets via token');
  await repo.getByTestId('test-connection').click();
  await expect(page.getByTestId('test-result')).toContainText('Connected');
  await expect(page.getByTestId('webhook-secret-state')).toContainText('set');
  // The forms post: a second mirror of the same GitHub repository is
  // refused with the reason; the status labels save.
  await page.getByText('Connect a GitHub repository').click();
  const connect = page.getByTestId('connect-form');
  await connect.getByLabel('Owner').fill('acme');
  await connect.getByLabel('Repository').fill('widgets');
  await connect.getByLabel('Name in Yagura (optional)').fill('widgets-again');
  await connect.getByLabel('Personal access token').fill(TOKEN);
  await connect.getByRole('button', { name: 'Connect and import issues' }).click();
  await expect(page.getByTestId('repositories')).toContainText('is mirrored by the repository "widgets" already');
  const settings = page.getByTestId('github-settings');
  await settings.getByLabel('When it completed').fill('agent:done');
  await settings.getByRole('button', { name: 'Save GitHub settings' }).click();
  await expect(settings.getByRole('status')).toHaveText('Saved.');
  res = await request.get('/api/v1/settings/github', { headers });
  expect((await res.json()).labels.done).toBe('agent:done');
  await expect(page.locator('body')).not.toContainText(TOKEN);
  await expect(page.locator('body')).not.toContainText(SECRET);
  await shot(page, 'settings');
});

// The board: a webhook-created issue appears live in "To do"; dragging it
// to "In progress" asks which workflow (the one this repository's issues
// ran last is chosen) and starts it; the card follows the run live to
// "Approval or review"; the run's changes show the agent's commit; Insights
// count the run. Then phone and dark screenshots.
test('the board: a webhook issue, dragged to in progress, runs live to review', async ({ page, request }) => {
  // A run, a pull request, a second run and six screenshots: more than the default 30 s.
  test.setTimeout(120_000);
  const auth = await token(request);
  const headers = { Authorization: `Bearer ${auth}` };
  let res = await request.post('/api/v1/agents', {
    headers,
    data: {
      name: 'Committer', agentType: 'Custom',
      command: ['sh', '-c', 'echo "fixed" >> README.md && git add -A && git -c user.name=Agent -c user.email=agent@example.com commit -qm "Fix the board widget" && for p in 25 50 75; do echo "::progress $p working"; sleep 1; done'],
    },
  });
  expect(res.status()).toBe(201);
  const agent = (await res.json()).id;
  res = await request.post('/api/v1/workflows', {
    headers,
    data: { name: 'Board fix', definition: { stages: [{ name: 'Fix', steps: [{ key: 'fix', agentId: agent, prompt: 'fix {issue.title}' }] }] } },
  });
  expect(res.status()).toBe(201);
  const boardFix = (await res.json()).id;
  const codegen = (await (await request.get('/api/v1/workflows', { headers })).json()).find((w: { name: string }) => w.name === 'Codegen').id;

  await signIn(page);
  await page.goto('/board');
  await page.waitForLoadState('networkidle');
  const column = (name: string) => page.locator(`[data-testid="board-column"][data-column="${name}"]`);
  // The first test's issue ran Codegen to the end: it waits for review.
  await expect(column('waiting').getByTestId('board-card')).toContainText('Live from GitHub');

  ghIssues[13] = {
    number: 13, title: 'Board from GitHub', body: 'Drag me.', state: 'open',
    labels: [{ name: 'board' }], assignee: { login: 'octocat' }, user: { login: 'octocat' },
    html_url: `${fakeUrl}/acme/widgets/issues/13`,
  };
  const payload = JSON.stringify({
    action: 'opened',
    issue: ghIssues[13],
    repository: { full_name: 'acme/widgets' },
    sender: { login: 'octocat' },
  });
  const signature = 'sha256=' + createHmac('sha256', SECRET).update(payload).digest('hex');
  res = await request.post('/api/github/webhook', {
    headers: { 'content-type': 'application/json', 'x-github-event': 'issues', 'x-github-delivery': 'pw-board', 'x-hub-signature-256': signature },
    data: payload,
  });
  expect(res.status()).toBe(200);

  // It appears in "To do" without a reload, with its label and assignee.
  const card = page.locator('[data-testid="board-card"]', { hasText: 'Board from GitHub' });
  await expect(card).toHaveAttribute('data-column', 'todo');
  await expect(card.getByTestId('label-chip')).toHaveText('board');
  await expect(card.getByTestId('card-assignee')).toHaveText('@octocat');
  await expect(column('todo').getByTestId('column-count')).toHaveText('1');

  // "Done" and "Approval or review" take no card from "To do" by drag
  // except "Done"; "In progress" asks which workflow.
  await card.dragTo(column('in_progress'));
  const dialog = page.getByTestId('move-dialog');
  await expect(dialog).toContainText('Start a workflow');
  await expect(dialog).toContainText('#13 Board from GitHub');
  await expect(dialog.getByTestId('move-workflow')).toHaveValue(codegen);
  // Cancel leaves it where it was.
  await dialog.getByRole('button', { name: 'Cancel' }).click();
  await expect(dialog).toHaveCount(0);
  await expect(card).toHaveAttribute('data-column', 'todo');
  await card.dragTo(column('in_progress'));
  await dialog.getByTestId('move-workflow').selectOption({ label: 'Board fix' });
  await shot(page, 'board-move');
  await dialog.getByRole('button', { name: 'Start workflow' }).click();
  await expect(dialog).toHaveCount(0);

  // The card follows the run live: in progress, its progress bar moving,
  // then completed and waiting for review.
  await expect(card).toHaveAttribute('data-column', 'in_progress', { timeout: 15_000 });
  await expect(card.getByTestId('card-run')).toContainText('Board fix');
  await shot(page, 'board-running');
  await expect(card).toHaveAttribute('data-column', 'waiting', { timeout: 30_000 });
  await expect(card.getByTestId('card-run')).toContainText('completed');
  await expect(card.getByTestId('card-progress')).toHaveAttribute('aria-valuenow', '100');
  // Its commit was pushed and proposed at its end (after the run ended):
  // the card links the pull request when the board is read again.
  await expect.poll(async () => (await (await request.get(`/api/v1/workflow-runs?workflowId=${boardFix}`, { headers })).json())[0].prUrl ?? null, { timeout: 15_000 }).not.toBeNull();
  await page.reload();
  await page.waitForLoadState('networkidle');
  await expect(card.getByTestId('card-pr')).toHaveAttribute('href', /\/acme\/widgets\/pull\/\d+$/);
  const runs = await (await request.get(`/api/v1/workflow-runs?workflowId=${boardFix}`, { headers })).json();
  expect(runs.length).toBe(1);
  expect(runs[0].issue.number).toBe(13);
  await shot(page, 'board');

  // Its changes: the agent's commit.
  await card.getByTestId('card-run').getByRole('link', { name: 'Board fix' }).click();
  await expect(page).toHaveURL(/\/workflow-runs\/[0-9a-f-]{36}$/);
  await page.getByTestId('run-changes').click();
  await expect(page.getByTestId('commits')).toContainText('Fix the board widget');
  await expect(page.locator('[data-testid="changed-file"][data-path="README.md"]')).toBeVisible();
  await expect(page.getByTestId('changes-pr')).toBeVisible();
  await expect(page.getByTestId('open-pull-request')).toHaveCount(0);

  // Insights count the run.
  await page.goto('/insights');
  await expect(page.locator('[data-testid="workflow-stats"] tr[data-name="Board fix"]')).toContainText('100%');

  // Closing from the board (drag to "Done"), then reopening from "Done".
  await page.goto('/board');
  await page.waitForLoadState('networkidle');
  await card.dragTo(column('done'));
  await expect(dialog).toContainText('Close the issue');
  await dialog.getByRole('button', { name: 'Close issue' }).click();
  await expect(card).toHaveAttribute('data-column', 'done');
  await card.dragTo(column('todo'));
  await dialog.getByRole('button', { name: 'Reopen issue' }).click();
  await expect(card).toHaveAttribute('data-column', 'waiting');

  // An agent run on the issue by itself commits too: its Changes page
  // proposes it ("Open pull request"), once.
  res = await request.post('/api/v1/executions', { headers, data: { agentId: agent, prompt: 'again', issueId: await card.getAttribute('data-issue') } });
  expect(res.status()).toBe(201);
  const solo = (await res.json()).id;
  await expect.poll(async () => (await (await request.get(`/api/v1/executions/${solo}`, { headers })).json()).status, { timeout: 30_000 }).toBe('completed');
  const before = pulls.length;
  await page.goto(`/executions/${solo}/changes`);
  await page.waitForLoadState('networkidle');
  await expect(page.getByTestId('commits')).toContainText('Fix the board widget');
  await page.getByTestId('open-pull-request').click();
  await expect(page.getByTestId('changes-pr')).toBeVisible();
  await expect(page.getByTestId('open-pull-request')).toHaveCount(0);
  expect(pulls.length).toBe(before + 1);
  expect(pulls[before].title).toBe('Committer: Board from GitHub');
  await shot(page, 'changes-proposed');
  await page.goto('/board');

  // A phone, dark.
  await page.setViewportSize({ width: 390, height: 844 });
  await page.emulateMedia({ colorScheme: 'dark' });
  await page.evaluate(() => document.documentElement.classList.add('dark'));
  await page.reload();
  await page.waitForLoadState('networkidle');
  await expect(card).toBeVisible();
  await shot(page, 'board-phone-dark');
  // The desktop in the dark, and the phone in the light.
  await page.setViewportSize({ width: 1440, height: 900 });
  await page.reload();
  await expect(card).toBeVisible();
  await shot(page, 'board-dark');
  await page.setViewportSize({ width: 390, height: 844 });
  await page.emulateMedia({ colorScheme: 'light' });
  await page.evaluate(() => document.documentElement.classList.remove('dark'));
  await page.reload();
  await expect(card).toBeVisible();
  await shot(page, 'board-phone');
});

test('every page hydrates without a console error', async ({ page }) => {
  // About 45 page loads, each waiting for the network to settle.
  test.setTimeout(180_000);
  const problems: string[] = [];
  page.on('console', (m) => {
    if (m.type() === 'error') problems.push(`${page.url()}: ${m.text()}`);
  });
  page.on('pageerror', (e) => problems.push(`${page.url()}: ${e.message}`));
  await signIn(page);
  const paths = ['/', '/agents', '/agents/new', '/executions', '/workflows', '/workflows/new', '/issues', '/board', '/runners', '/settings', '/people', '/audit', '/insights', '/account', '/api-keys'];
  // Pages with ids, found through the lists.
  await page.goto('/agents');
  await page.waitForLoadState('networkidle');
  const agent = await page.getByTestId('agent-card').first().getByRole('link', { name: 'Edit' }).getAttribute('href');
  if (agent) paths.push(agent);
  await page.goto('/workflows');
  await page.waitForLoadState('networkidle');
  const workflow = await page.locator('a[href^="/workflows/"]:not([href="/workflows/new"])').first().getAttribute('href');
  if (workflow) paths.push(workflow);
  await page.goto('/issues');
  await page.waitForLoadState('networkidle');
  const issue = await page.getByRole('link', { name: 'Live from GitHub' }).getAttribute('href');
  if (issue) paths.push(issue);
  await page.goto(issue ?? '/issues');
  await page.waitForLoadState('networkidle');
  const runLink = await page.locator('[data-kind="workflow-run"] a').first().getAttribute('href');
  if (runLink) {
    paths.push(runLink);
    await page.goto(runLink);
    await page.waitForLoadState('networkidle');
    const execution = await page.locator('a[href^="/executions/"]').first().getAttribute('href');
    if (execution) paths.push(execution);
  }
  expect(paths.length).toBeGreaterThanOrEqual(14);
  // Three loads each: a page whose resources the server numbered in
  // another order than the browser failed on about one load in two.
  for (const path of paths) {
    for (let i = 0; i < 3; i++) {
      await page.goto(path);
      await page.waitForLoadState('networkidle');
    }
  }
  expect(problems).toEqual([]);
});
