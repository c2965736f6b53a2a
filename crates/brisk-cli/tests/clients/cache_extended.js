// The result cache over the extended protocol with node-postgres, differentially (as
// cache_extended.py does for psycopg and asyncpg): one random sequence of cached reads and
// writes (seeded), through brisk with the cache and directly against a twin database.
// Reads go as unnamed statements ({text, values}: Parse/Bind/Describe/Execute/Sync each
// time) and as named prepared ones ({name, text, values}: parsed once per connection, then
// Bind/Describe/Execute/Sync). Every read through brisk must equal the same read made
// directly at the same point. Prints the counts; exits 1 on the first difference.
const { Client } = require('pg');

const [brisk_url, direct_url] = process.argv.slice(2, 4);
const seed = Number(process.argv[4]);
const steps = Number(process.argv[5]);

// mulberry32: small, seeded, the same sequence every run.
let state = seed >>> 0;
function random() {
  state = (state + 0x6d2b79f5) >>> 0;
  let t = state;
  t = Math.imul(t ^ (t >>> 15), t | 1);
  t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
}
const below = (n) => Math.floor(random() * n);
const choice = (items) => items[below(items.length)];

const ROWS = 12;
const TAG = ' /* brisk:cache ttl=600 */';
// [text, parameter count]
const READS = [
  ['SELECT id, n, name FROM items WHERE id = $1', 1],
  ['SELECT count(*), sum(n) FROM items WHERE n > $1', 1],
  ['SELECT id, name, price, at, data FROM items WHERE id BETWEEN $1 AND $2 ORDER BY id', 2],
  ['SELECT id, n FROM items ORDER BY n DESC, id LIMIT 3', 0],
];

function write() {
  const i = below(ROWS);
  const k = 1 + below(49);
  const day = String((k % 28) + 1).padStart(2, '0');
  return choice([
    `UPDATE items SET n = n + ${k} WHERE id = ${i}`,
    `UPDATE items SET name = 'name ${k}', price = price + ${k}.25 WHERE id = ${i}`,
    `DELETE FROM items WHERE id = ${i}`,
    `INSERT INTO items VALUES (${i}, ${k}, 'new ${k}', ${k}.5, '2026-01-${day} 10:00+00', '\\x${k
      .toString(16)
      .padStart(2, '0')}') ON CONFLICT (id) DO UPDATE SET n = excluded.n, data = excluded.data`,
  ]);
}

function params(count) {
  if (count === 2) {
    const low = below(ROWS);
    return [low, low + below(4)];
  }
  return count === 1 ? [below(60)] : [];
}

async function connect(url) {
  const client = new Client({ connectionString: url });
  await client.connect();
  return client;
}

async function main() {
  const brisk = [await connect(brisk_url), await connect(brisk_url)];
  const direct = await connect(direct_url);
  let reads = 0;
  let named = 0;
  let writes = 0;
  for (let step = 0; step < steps; step++) {
    if (random() < 0.2) {
      const sql = write();
      await choice(brisk).query(sql);
      await direct.query(sql);
      writes++;
      continue;
    }
    const which = below(READS.length);
    const [text, count] = READS[which];
    const values = params(count);
    const conn = choice(brisk);
    const query = { text: text + TAG, values, rowMode: 'array' };
    if (random() < 0.5) {
      query.name = `read-${which}`;
      named++;
    }
    const got = JSON.stringify((await conn.query(query)).rows);
    const want = JSON.stringify((await direct.query({ text, values, rowMode: 'array' })).rows);
    reads++;
    if (got !== want) {
      console.log(`seed ${seed}: node-postgres ${JSON.stringify(query)}\n  through brisk: ${got}\n  directly:      ${want}`);
      process.exit(1);
    }
  }
  for (const c of [...brisk, direct]) await c.end();
  console.log(`seed ${seed}: node-postgres ${reads} reads (${named} named), ${writes} writes, 0 differences`);
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
