import { test, expect, type Page } from '@playwright/test';

// One installation per project, walked through in order: first-run setup
// creates the admin the later tests sign in with.
test.describe.configure({ mode: 'serial' });

const ADMIN = { username: 'admin', password: 'correct horse battery' };

const isHydrated = () => test.info().project.name === 'hydrated';

async function shot(page: Page, name: string) {
  await page.screenshot({ path: `screenshots/${test.info().project.name}-${name}.png`, fullPage: true });
}

async function signIn(page: Page, path = '/') {
  await page.goto(path);
  await expect(page).toHaveURL(/\/login/);
  await page.getByLabel('Username').fill(ADMIN.username);
  await page.getByLabel('Password').fill(ADMIN.password);
  await page.getByRole('button', { name: 'Sign in' }).click();
}

async function waitForHydration(page: Page) {
  if (isHydrated()) {
    // The indicator turns to Connected only once the wasm bundle runs.
    await expect(page.getByTestId('connection-indicator')).toHaveAttribute('data-status', 'connected');
  }
}

test('a fresh installation leads to first-run setup, which creates the admin', async ({ page }) => {
  await page.goto('/');
  await expect(page).toHaveURL(/\/setup$/);
  await expect(page.getByRole('heading', { name: 'Set up Yagura' })).toBeVisible();
  await shot(page, 'setup');

  await page.getByLabel('Username').fill(ADMIN.username);
  await page.getByLabel('Password', { exact: true }).fill(ADMIN.password);
  await page.getByLabel('Repeat password').fill(ADMIN.password);
  await page.getByRole('button', { name: 'Create admin account' }).click();

  await expect(page.getByRole('heading', { level: 1, name: 'Dashboard' })).toBeVisible();
  await expect(page.getByTestId('current-user')).toContainText(ADMIN.username);

  // Setup is offered only once.
  await page.goto('/setup');
  await expect(page).toHaveURL(/\/$/);
});

test('sign-in refuses a wrong password, then returns to the page asked for', async ({ page }) => {
  await page.goto('/executions');
  await expect(page).toHaveURL(/\/login\?next=\/executions$/);
  await waitForLoginForm(page);

  await page.getByLabel('Username').fill(ADMIN.username);
  await page.getByLabel('Password').fill('not the password');
  await page.getByRole('button', { name: 'Sign in' }).click();
  await expect(page.getByTestId('form-error')).toHaveText('Invalid username or password.');
  await shot(page, 'login-error');

  await page.getByLabel('Username').fill(ADMIN.username);
  await page.getByLabel('Password').fill(ADMIN.password);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await expect(page).toHaveURL(/\/executions$/);
  await expect(page.getByRole('heading', { level: 1, name: 'Executions' })).toBeVisible();
});

async function waitForLoginForm(page: Page) {
  await expect(page.getByRole('heading', { name: 'Sign in' })).toBeVisible();
  if (isHydrated()) {
    // Let hydration attach the form's handler before typing.
    await page.waitForLoadState('networkidle');
  }
}

test('the navigation reaches every section, and the live link connects', async ({ page }) => {
  // Seven full page loads without scripts: slow while the other projects run.
  test.setTimeout(60_000);
  await signIn(page);
  await expect(page.getByRole('heading', { level: 1, name: 'Dashboard' })).toBeVisible();
  const indicator = page.getByTestId('connection-indicator');
  if (isHydrated()) {
    await expect(indicator).toHaveText('Connected');
    await expect(indicator).toHaveAttribute('data-connection-id', /^conn_[0-9a-f-]{36}$/);
  } else {
    // Without JavaScript there is no live link; the page says so honestly.
    await expect(indicator).toHaveText('Connecting…');
  }
  await shot(page, 'dashboard');

  const nav = page.getByRole('complementary').getByRole('navigation', { name: 'Main' });
  for (const section of ['Agents', 'Executions', 'Workflows', 'Issues', 'Runners', 'Settings', 'Dashboard']) {
    await nav.getByRole('link', { name: section, exact: true }).click();
    await expect(page.getByRole('heading', { level: 1, name: section })).toBeVisible();
    await expect(nav.getByRole('link', { name: section, exact: true })).toHaveAttribute('aria-current', 'page');
  }
  if (isHydrated()) {
    // Client-side navigation keeps the one socket of the tab.
    await expect(indicator).toHaveText('Connected');
  }
});

test('hover and dark styles are applied', async ({ page }) => {
  await signIn(page, '/runners');
  await waitForHydration(page);
  const link = page.getByRole('complementary').getByRole('link', { name: 'Agents', exact: true });
  await expect(link).toHaveCSS('background-color', 'rgba(0, 0, 0, 0)');
  await link.hover();
  await expect(link).not.toHaveCSS('background-color', 'rgba(0, 0, 0, 0)');

  const html = page.locator('html');
  const body = page.locator('body');
  const lightBackground = await body.evaluate((el) => getComputedStyle(el).backgroundColor).catch(() => null);
  // System → Light → Dark.
  const toggle = page.getByTestId('theme-toggle');
  await expect(toggle).toHaveText('Theme: System');
  await toggle.click();
  await expect(toggle).toHaveText('Theme: Light');
  await expect(html).not.toHaveClass(/dark/);
  await toggle.click();
  await expect(toggle).toHaveText('Theme: Dark');
  await expect(html).toHaveClass(/dark/);
  if (lightBackground !== null) {
    await expect(body).not.toHaveCSS('background-color', lightBackground);
  }
  // The dark variant of the sidebar link's hover differs from the light one.
  await link.hover();
  await expect(link).not.toHaveCSS('background-color', 'rgba(0, 0, 0, 0)');
  await shot(page, 'runners-dark');

  // The choice is remembered: a fresh load renders dark from the first byte.
  await page.reload();
  await expect(html).toHaveClass(/dark/);
  await toggle.click();
  await expect(toggle).toHaveText('Theme: System');
});

test('on a phone the navigation folds into a menu', async ({ page }) => {
  await page.setViewportSize({ width: 390, height: 844 });
  await signIn(page);
  await waitForHydration(page);
  await expect(page.getByRole('complementary')).toBeHidden();
  await page.getByText('Menu', { exact: true }).click();
  const menu = page.getByTestId('mobile-menu');
  await expect(menu.getByRole('link', { name: 'Workflows' })).toBeVisible();
  await shot(page, 'phone-menu');
  await menu.getByRole('link', { name: 'Workflows' }).click();
  await expect(page.getByRole('heading', { level: 1, name: 'Workflows' })).toBeVisible();
});

test('signing out ends the session', async ({ page }) => {
  await signIn(page);
  await waitForHydration(page);
  await page.getByRole('button', { name: 'Sign out' }).click();
  await expect(page).toHaveURL(/\/login$/);
  await page.goto('/settings');
  await expect(page).toHaveURL(/\/login\?next=\/settings$/);
});
