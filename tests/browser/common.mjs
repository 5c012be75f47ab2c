// What the browser scripts share: a whole-run time limit and loading playwright-core, with the
// exit codes every script documents (2: bad input or no browser, 3: the run took too long).

// Exits with 3 when the run is not over after ms; returns the timer (clearTimeout it when done).
export function limitRun(me, ms) {
  return setTimeout(() => {
    console.error(`${me}: not done after ${ms} ms`);
    process.exit(3);
  }, ms);
}

// playwright-core's chromium, or exit 2 when tests/node_modules lacks it.
export async function loadChromium(me) {
  try {
    return (await import("playwright-core")).chromium;
  } catch (err) {
    console.error(`${me}: cannot load playwright-core (run npm ci in tests/): ${err.message}`);
    process.exit(2);
  }
}
