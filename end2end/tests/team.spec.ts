import { test, expect, type Browser, type Page } from '@playwright/test';

// A team: an admin invites a member from the People page; the member opens
// the link in another browser, joins and starts a run; the audit log shows
// who did what. Then your own account: a password change signs you out
// everywhere else.
test.describe.configure({ mode: 'serial' });
// Two browsers, a run and several pages: more than the default 30 s on a busy machine.
test.setTimeout(90_000);

const ADMIN = { username: 'admin', password: 'correct horse battery' };
const MEMBER = { username: 'mira', password: 'mira-long-password' };

async function shot(page: Page, name: string) {
  await page.screenshot({ path: `screenshots/team-${name}.png`, fullPage: true });
}

async function signIn(page: Page, who = ADMIN) {
  await page.goto('/login');
  await page.waitForLoadState('networkidle');
  await page.getByLabel('Username').fill(who.username);
  await page.getByLabel('Password').fill(who.password);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await expect(page).toHaveURL(/\/$/);
  await expect(page.getByTestId('connection-indicator')).toHaveAttribute('data-status', 'connected');
}

async function newPage(browser: Browser, baseURL: string | undefined): Promise<Page> {
  const context = await browser.newContext({ baseURL });
  return context.newPage();
}

test.beforeAll(async ({ request }) => {
  const res = await request.post('/api/v1/setup', { data: ADMIN });
  expect([201, 409]).toContain(res.status());
});

test('an admin invites a member, who joins in another browser and runs an agent; the audit log shows both', async ({ page, browser, baseURL }) => {
  await signIn(page);
  await page.goto('/people');
  await page.waitForLoadState('networkidle');
  await page.getByRole('combobox', { name: 'Role', exact: true }).selectOption('member');
  await page.getByLabel('Email (a note for you, optional)').fill('mira@example.com');
  await page.getByRole('button', { name: 'Make link' }).click();
  const link = page.getByTestId('invite-link');
  await expect(link).toHaveValue(/\/invite\/yai_[0-9a-f]{64}$/);
  const url = new URL(await link.inputValue());
  await expect(page.getByTestId('invitation').filter({ hasText: 'mira@example.com' })).toHaveAttribute('data-status', 'pending');
  await shot(page, 'invite');

  // The member, in a browser of their own.
  const member = await newPage(browser, baseURL);
  await member.goto(url.pathname);
  await member.waitForLoadState('networkidle');
  await expect(member.getByTestId('invitation-offer')).toContainText('admin invites you to join as member');
  await shot(member, 'join');
  await member.getByLabel('Choose a username').fill(MEMBER.username);
  await member.getByLabel('Password', { exact: true }).fill(MEMBER.password);
  await member.getByLabel('Repeat password').fill(MEMBER.password);
  await member.getByRole('button', { name: 'Join' }).click();
  await expect(member).toHaveURL(/\/$/);
  await expect(member.getByTestId('current-user')).toContainText('mira');
  await expect(member.getByTestId('current-user')).toContainText('member');

  // The link is used up: opening it again says so.
  const other = await newPage(browser, baseURL);
  await other.goto(url.pathname);
  await expect(other.getByTestId('form-error')).toContainText('already been used');
  await other.context().close();

  // The member runs the demo agent.
  await member.goto('/agents');
  await member.waitForLoadState('networkidle');
  const card = member.getByTestId('agent-card').filter({ hasText: 'Demo agent' });
  await card.getByLabel('Prompt for Demo agent').fill('hello from mira');
  await card.getByRole('button', { name: 'Run' }).click();
  await expect(member).toHaveURL(/\/executions\/[0-9a-f-]{36}$/);
  const execution = member.url().split('/').pop()!;
  await member.context().close();

  // The admin sees both in the audit log, and the invitation as accepted.
  await page.goto('/people');
  await expect(page.getByTestId('invitation').filter({ hasText: 'mira@example.com' })).toHaveAttribute('data-status', 'accepted');
  await expect(page.getByTestId('person').filter({ hasText: 'mira' })).toHaveAttribute('data-active', 'true');
  await page.goto('/audit');
  const entries = page.getByTestId('audit-entry');
  await expect(entries.filter({ hasText: 'people.invite' }).first()).toHaveAttribute('data-actor', 'admin');
  await expect(entries.filter({ hasText: 'invitations.accept' }).first()).toHaveAttribute('data-actor', 'mira');
  const started = entries.filter({ hasText: 'executions.start' }).first();
  await expect(started).toHaveAttribute('data-actor', 'mira');
  await expect(started).toContainText('browser');
  // Secrets are not in the log: the member's password never shows.
  await expect(page.locator('main')).not.toContainText(MEMBER.password);
  await shot(page, 'audit');
  // Filtered by person: only mira's.
  await page.goto('/audit?actor=mira');
  await expect(entries.first()).toBeVisible();
  for (const actor of await entries.evaluateAll((els) => els.map((e) => e.getAttribute('data-actor')))) {
    expect(actor).toBe('mira');
  }
  // The run itself is findable by its id.
  await page.goto(`/audit?target=${execution}`);
  await expect(entries).toHaveCount(1);
  await expect(entries.first()).toHaveAttribute('data-action', 'executions.start');
  await page.goto('/audit?action=executions');
  await expect(entries.filter({ hasText: 'executions.start' })).not.toHaveCount(0);
  await page.emulateMedia({ colorScheme: 'dark' });
  await page.goto('/audit');
  await page.setViewportSize({ width: 390, height: 844 });
  await shot(page, 'audit-phone-dark');
  expect(await page.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(390);
  await page.goto('/people');
  await shot(page, 'people-phone-dark');
  expect(await page.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(390);
});

test('a password change signs you out everywhere else', async ({ page, browser, baseURL }) => {
  await signIn(page, MEMBER);
  const elsewhere = await newPage(browser, baseURL);
  await signIn(elsewhere, MEMBER);

  await page.goto('/account');
  await page.waitForLoadState('networkidle');
  await expect(page.getByTestId('account-user')).toContainText('mira');
  // Where mira is signed in: this browser, marked, and the others.
  const sessions = page.getByTestId('session');
  await expect(sessions.and(page.locator('[data-current="true"]'))).toHaveCount(1);
  await expect(sessions.first()).toContainText('Chrom');
  const others = await page.locator('[data-testid="session"][data-current="false"]').count();
  expect(others).toBeGreaterThanOrEqual(1);
  await page.locator('[data-testid="session"][data-current="false"]').first().getByRole('button', { name: 'Sign out' }).click();
  await expect(page.getByTestId('account-done')).toContainText('That session was signed out');
  await expect(page.locator('[data-testid="session"][data-current="false"]')).toHaveCount(others - 1);
  // A wrong current password changes nothing.
  await page.getByLabel('Current password').fill('not-my-password');
  await page.getByLabel('New password', { exact: true }).fill('mira-new-password');
  await page.getByLabel('Repeat the new password').fill('mira-new-password');
  await page.getByRole('button', { name: 'Change password' }).click();
  await expect(page.getByTestId('form-error').first()).toContainText('current password is wrong');
  await page.getByLabel('Current password').fill(MEMBER.password);
  await page.getByRole('button', { name: 'Change password' }).click();
  await expect(page.getByTestId('account-done')).toContainText('password was changed');
  await shot(page, 'account');
  // This browser stays signed in; the other one is not any more.
  await page.goto('/executions');
  await expect(page).toHaveURL(/\/executions$/);
  await elsewhere.goto('/executions');
  await expect(elsewhere).toHaveURL(/\/login/);
  await elsewhere.context().close();
  MEMBER.password = 'mira-new-password';
  await page.emulateMedia({ colorScheme: 'dark' });
  await page.goto('/account');
  await page.setViewportSize({ width: 390, height: 844 });
  await shot(page, 'account-phone-dark');
});

test('a forgotten password: the admin makes a reset link, the member sets a new one', async ({ page, browser, baseURL }) => {
  await signIn(page);
  await page.goto('/people');
  await page.waitForLoadState('networkidle');
  const row = page.getByTestId('person').filter({ hasText: 'mira' });
  await row.getByRole('button', { name: 'Reset password' }).click();
  const link = page.getByTestId('reset-link');
  await expect(link).toHaveValue(/\/invite\/yai_[0-9a-f]{64}$/);
  const url = new URL(await link.inputValue());
  await expect(page.getByTestId('invitation').filter({ hasText: 'password reset for mira' })).toHaveAttribute('data-status', 'pending');

  const member = await newPage(browser, baseURL);
  await member.goto(url.pathname);
  await member.waitForLoadState('networkidle');
  await expect(member.getByTestId('invitation-offer')).toContainText('Choose a new password for mira');
  await expect(member.getByLabel('Choose a username')).toHaveCount(0);
  await member.getByLabel('New password').fill('mira-reset-password');
  await member.getByLabel('Repeat password').fill('mira-reset-password');
  await member.getByRole('button', { name: 'Set password' }).click();
  await expect(member).toHaveURL(/\/$/);
  await expect(member.getByTestId('current-user')).toContainText('mira');
  await member.context().close();
  MEMBER.password = 'mira-reset-password';
  const again = await newPage(browser, baseURL);
  await signIn(again, MEMBER);
  await again.context().close();
  await page.reload();
  await expect(page.getByTestId('invitation').filter({ hasText: 'password reset for mira' })).toHaveAttribute('data-status', 'accepted');
});

test('insights show the team’s runs, on a phone and in the dark', async ({ page }) => {
  await signIn(page);
  await page.goto('/insights?days=7');
  await page.waitForLoadState('networkidle');
  // Mira's run of the demo agent, once it ended (the page follows live).
  const row = page.getByTestId('agent-stats').locator('tr[data-name="Demo agent"]');
  await expect(row).toBeVisible({ timeout: 30_000 });
  await expect(page.getByTestId('runs-total')).toContainText(/[1-9]\d* runs? in the last 7 days/);
  // A day with runs (not necessarily the last: the run may be from before midnight UTC).
  await expect(page.getByTestId('runs-per-day').locator('g[data-total]:not([data-total="0"])').first()).toBeVisible();
  await expect(page.getByTestId('load')).toContainText('CPU');
  await shot(page, 'insights');
  // The period links work without a round trip through a form.
  await page.getByRole('link', { name: '30 days' }).click();
  await expect(page).toHaveURL(/days=30$/);
  await expect(page.getByTestId('runs-per-day').locator('g[data-total]')).toHaveCount(30);
  await page.emulateMedia({ colorScheme: 'dark' });
  await page.setViewportSize({ width: 390, height: 844 });
  await page.goto('/insights?days=7');
  await expect(row).toBeVisible();
  await shot(page, 'insights-phone-dark');
  expect(await page.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(390);
});

test('a deactivated account is deleted; what they did stays theirs', async ({ page }) => {
  await signIn(page);
  page.on('dialog', (dialog) => dialog.accept());
  await page.goto('/people');
  await page.waitForLoadState('networkidle');
  const row = page.getByTestId('person').filter({ hasText: 'mira' });
  // Only a deactivated account offers "Delete".
  await expect(row.getByRole('button', { name: 'Delete' })).toHaveCount(0);
  await row.getByRole('button', { name: 'Deactivate' }).click();
  await expect(row).toHaveAttribute('data-active', 'false');
  await row.getByRole('button', { name: 'Delete' }).click();
  await expect(page.getByTestId('person').filter({ hasText: 'mira' })).toHaveCount(0);
  // The audit log has the deletion; mira's run is still hers.
  await page.goto('/audit?action=people.delete');
  await expect(page.getByTestId('audit-entry').first()).toHaveAttribute('data-actor', 'admin');
  await page.goto('/audit?actor=mira&action=executions');
  await expect(page.getByTestId('audit-entry').first()).toHaveAttribute('data-action', 'executions.start');
});
