import { test, expect, type APIRequestContext, type Page } from '@playwright/test';

// Issues and workflows: create an issue, define a two-stage workflow with
// an approval gate, run it on the issue, approve it, watch the graph turn
// green, get told, and find the run in the issue's timeline. The hydrated
// project does it all in the browser; the SSR project (JavaScript off)
// does what works without scripts (the editor needs JavaScript, so the
// workflow is defined through the API there).
test.describe.configure({ mode: 'serial' });
// Long scenarios (a workflow run end to end, without scripts by reloading):
// more than the default 30 s while the other projects load the machine.
test.setTimeout(60_000);

const ADMIN = { username: 'admin', password: 'correct horse battery' };
const js = () => test.info().project.name === 'workflows';

async function shot(page: Page, name: string) {
  await page.screenshot({ path: `screenshots/${test.info().project.name}-${name}.png`, fullPage: true });
}

async function token(request: APIRequestContext): Promise<string> {
  const res = await request.post('/api/v1/auth/login', { data: ADMIN });
  expect(res.status()).toBe(200);
  return (await res.json()).token;
}

async function agent(request: APIRequestContext, auth: string, name: string, command: string[]) {
  const res = await request.post('/api/v1/agents', {
    headers: { Authorization: `Bearer ${auth}` },
    data: { name, agentType: 'Custom', command },
  });
  expect(res.status()).toBe(201);
  return (await res.json()).id as string;
}

async function signIn(page: Page) {
  await page.goto('/login');
  if (js()) await page.waitForLoadState('networkidle');
  await page.getByLabel('Username').fill(ADMIN.username);
  await page.getByLabel('Password').fill(ADMIN.password);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await expect(page).toHaveURL(/\/$/);
  if (js()) await expect(page.getByTestId('connection-indicator')).toHaveAttribute('data-status', 'connected');
}

test.beforeAll(async ({ request }) => {
  const res = await request.post('/api/v1/setup', { data: ADMIN });
  expect([201, 409]).toContain(res.status());
});

test('a gated two-stage workflow runs on an issue and is approved in the browser', async ({ page, request }) => {
  const auth = await token(request);
  const planner = await agent(request, auth, 'Planner', ['sh', '-c', 'echo "planning $1"; echo \'::result {"plan": "small steps"}\'', 'sh', '{prompt}']);
  const shipper = await agent(request, auth, 'Shipper', ['sh', '-c', 'echo "shipping: $1"', 'sh', '{prompt}']);
  await signIn(page);

  // A repository and an issue, through the issues page.
  await page.goto('/issues');
  if (js()) await page.waitForLoadState('networkidle');
  const repoForm = page.getByTestId('new-repository');
  await repoForm.locator('input[name="input[name]"]').fill('web');
  await repoForm.getByRole('button', { name: 'Add repository' }).click();
  await expect(page.getByTestId('repositories')).toContainText('web');
  if (!js()) await page.goto('/issues');
  await page.getByTestId('new-issue').locator('summary').click();
  await page.getByTestId('new-issue').getByLabel('Title').fill('Add a dark mode');
  await page.getByTestId('new-issue').locator('textarea[name="input[body]"]').fill('Make it **dark**.\n\n<script>alert(1)</script>');
  await page.getByTestId('new-issue').locator('input[name="input[labels][0]"]').fill('ui, ready');
  await page.getByRole('button', { name: 'Create issue' }).click();
  await expect(page).toHaveURL(/\/issues\/[0-9a-f-]{36}$/);
  const issueUrl = page.url();
  await expect(page.getByTestId('issue-body').locator('strong')).toHaveText('dark');
  await expect(page.getByTestId('issue-body')).toContainText('<script>alert(1)</script>');
  await expect(page.getByTestId('issue-labels')).toContainText('ready');
  await shot(page, 'issue');

  // The workflow: plan, then ship behind an approval gate.
  if (js()) {
    await page.goto('/workflows/new');
    await page.waitForLoadState('networkidle');
    await page.getByLabel('Name', { exact: true }).fill('Plan and ship');
    await page.getByRole('button', { name: 'Add stage' }).click();
    await page.getByRole('button', { name: 'Add stage' }).click();
    const plan = page.getByTestId('stage-editor').nth(0);
    await plan.getByRole('textbox', { name: 'Stage 1', exact: true }).fill('Plan');
    await plan.getByRole('button', { name: 'Add step' }).click();
    await plan.getByRole('textbox', { name: 'Key', exact: true }).fill('plan');
    await plan.getByRole('combobox', { name: 'Agent', exact: true }).selectOption({ label: 'Planner' });
    await plan.getByRole('textbox', { name: /^Prompt/ }).fill('issue #{issue.number}');
    const ship = page.getByTestId('stage-editor').nth(1);
    await ship.getByRole('textbox', { name: 'Stage 2', exact: true }).fill('Ship');
    await ship.getByRole('button', { name: 'Add step' }).click();
    await ship.getByRole('textbox', { name: 'Key', exact: true }).fill('ship');
    await ship.getByRole('combobox', { name: 'Agent', exact: true }).selectOption({ label: 'Shipper' });
    await ship.getByRole('textbox', { name: /^Prompt/ }).fill('{steps.plan.result.plan}');
    await ship.getByRole('checkbox', { name: 'Needs approval' }).check();
    const graph = page.getByTestId('workflow-graph');
    await expect(graph.locator('[data-step="plan"]')).toBeVisible();
    await expect(graph.locator('[data-step="ship"]')).toBeVisible();
    // The padlock of the gated step is on screen, not cut off at the right.
    await expect(graph.locator('[data-step="ship"]').getByTestId('approval-lock')).toBeInViewport();
    await shot(page, 'editor');
    await page.getByRole('button', { name: 'Save workflow' }).click();
    await expect(page).toHaveURL(/\/workflows$/);
    await expect(page.getByText('Plan and ship')).toBeVisible();
  } else {
    const res = await request.post('/api/v1/workflows', {
      headers: { Authorization: `Bearer ${auth}` },
      data: {
        name: 'Plan and ship',
        definition: {
          stages: [
            { name: 'Plan', steps: [{ key: 'plan', agentId: planner, prompt: 'issue #{issue.number}' }] },
            { name: 'Ship', steps: [{ key: 'ship', agentId: shipper, prompt: '{steps.plan.result.plan}', approval: true }] },
          ],
        },
      },
    });
    expect(res.status()).toBe(201);
  }

  // Run it on the issue. Toasts are live only (the bell keeps everything),
  // so wait for the tab's socket before starting.
  await page.goto(issueUrl);
  if (js()) {
    await page.waitForLoadState('networkidle');
    await expect(page.getByTestId('connection-indicator')).toHaveAttribute('data-status', 'connected');
  }
  await page.getByRole('combobox', { name: 'Workflow', exact: true }).selectOption({ label: 'Plan and ship' });
  await page.getByRole('button', { name: 'Run workflow' }).click();
  await expect(page).toHaveURL(/\/workflow-runs\/[0-9a-f-]{36}$/);
  const runUrl = page.url();
  const graph = page.getByTestId('run-graph');
  const settle = async (check: () => Promise<void>) => {
    if (js()) return check();
    // Without scripts the page shows what was true when it was served.
    await expect(async () => {
      await page.reload();
      await check();
    }).toPass({ timeout: 20_000 });
  };
  await settle(async () => {
    await expect(graph.locator('[data-step="plan"]')).toHaveAttribute('data-status', 'completed', { timeout: js() ? 15_000 : 1_000 });
    await expect(graph.locator('[data-step="ship"]')).toHaveAttribute('data-status', 'waiting_approval', { timeout: js() ? 15_000 : 1_000 });
  });
  await expect(page.getByTestId('run-status')).toHaveText('waiting_approval');
  if (js()) {
    // The bell has it; no toast covers the very page that asks.
    await expect(page.getByTestId('bell-menu').getByTestId('notification').filter({ hasText: 'Approval needed' })).toHaveCount(1);
    await expect(page.getByTestId('toast').filter({ hasText: 'Approval needed' })).toHaveCount(0);
  }
  await shot(page, 'waiting');

  await page.getByTestId('approve-ship').click();
  if (!js()) await expect(page).toHaveURL(runUrl);
  await settle(async () => {
    await expect(graph.locator('[data-step="ship"]')).toHaveAttribute('data-status', 'completed', { timeout: js() ? 15_000 : 1_000 });
    await expect(page.getByTestId('run-status')).toHaveText('completed', { timeout: js() ? 15_000 : 1_000 });
  });
  if (js()) {
    // Told in the bell; the page being looked at gets no toast about itself.
    await expect(page.getByTestId('bell-menu').getByTestId('notification').filter({ hasText: 'Workflow completed' })).toHaveCount(1);
    await expect(page.getByTestId('unread-count')).toBeVisible();
    await expect(page.getByTestId('toast').filter({ hasText: 'Workflow completed' })).toHaveCount(0);
  }
  await expect(page.getByTestId('history-entry').filter({ hasText: 'approved by admin' })).toBeVisible();
  await shot(page, 'completed');

  // The run is on the issue's timeline, and its steps' executions too.
  await page.goto(issueUrl);
  const runEntry = page.getByTestId('timeline-entry').and(page.locator('[data-kind="workflow-run"]'));
  await expect(runEntry).toContainText('Plan and ship');
  // Its steps' executions are under it, not beside it.
  await expect(runEntry.getByTestId('timeline-step')).toHaveCount(2);
  await expect(page.getByTestId('timeline-entry').and(page.locator('[data-kind="execution"]'))).toHaveCount(0);
  await shot(page, 'timeline');

  // The shipped prompt carried the plan's result.
  const runs = await (await request.get('/api/v1/workflow-runs', { headers: { Authorization: `Bearer ${auth}` } })).json();
  const run = await (await request.get(`/api/v1/workflow-runs/${runs[0].id}`, { headers: { Authorization: `Bearer ${auth}` } })).json();
  const shipStep = run.steps.find((s: { key: string }) => s.key === 'ship');
  const exec = await (await request.get(`/api/v1/executions/${shipStep.executionId}`, { headers: { Authorization: `Bearer ${auth}` } })).json();
  expect(exec.prompt).toBe('small steps');
});
