// Chromium from Debian, launched headless by the browser tests (app/test) and by npm run
// docs:screenshots (scripts/): two layers, so the fact lives here.
/** The browser binary: CHROMIUM_PATH (CI runners with Google Chrome), else Debian's chromium. */
export const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

// Without these, Chromium in a container stalls on things it cannot reach (updates, sync, QUIC).
export const CHROMIUM_FLAGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--disable-dev-shm-usage',
];
