// Loads a Netlify v2 function module the way its zip's entry point does (plain Node, the zip's
// own node_modules) and calls its default export with each request given as JSON on argv[3]:
// [{ "method": "GET", "headers": {...}, "body": "..." }, ...]. Prints the answers as JSON on a
// last line of their own (the functions log JSON lines to stdout too).
import { pathToFileURL } from 'node:url';

const [modulePath, requestsJson] = process.argv.slice(2);
const fn = (await import(pathToFileURL(modulePath).href)).default;
if (typeof fn !== 'function') throw new Error(`${modulePath} has no default export function`);

const answers = [];
for (const init of JSON.parse(requestsJson)) {
  const request = new Request('https://site.example/.netlify/functions/under-test', init);
  // The parts of Netlify's context the functions read; waitUntil keeps work past the answer.
  const response = await fn(request, { waitUntil() {} });
  answers.push({ status: response.status, headers: Object.fromEntries(response.headers), body: await response.text() });
}
process.stdout.write(`\n${JSON.stringify(answers)}\n`);
// A function may keep a database pool open; the answers are all this run needs.
process.exit(0);
