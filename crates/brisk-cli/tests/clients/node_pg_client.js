// node-postgres through brisk proxy: simple queries, parameterized queries (unnamed
// statements), named prepared statements reused across transactions, and a pool of clients.
const { Client, Pool } = require('pg');

async function main(url) {
  const pool = new Pool({ connectionString: url, max: 5 });
  await pool.query('CREATE TABLE IF NOT EXISTS node_items (id int PRIMARY KEY, name text)');
  await pool.query('TRUNCATE node_items');
  await Promise.all(
    Array.from({ length: 100 }, (_, i) =>
      pool.query({ name: 'insert-item', text: 'INSERT INTO node_items VALUES ($1, $2)', values: [i, `n${i}`] })
    )
  );
  const { rows } = await pool.query('SELECT count(*)::int AS n FROM node_items');
  if (rows[0].n !== 100) throw new Error(`expected 100 rows, got ${rows[0].n}`);
  for (let i = 0; i < 30; i++) {
    const r = await pool.query({ name: 'get-item', text: 'SELECT name FROM node_items WHERE id = $1', values: [i] });
    if (r.rows[0].name !== `n${i}`) throw new Error(`wrong row ${JSON.stringify(r.rows)}`);
  }
  const client = new Client({ connectionString: url });
  await client.connect();
  await client.query('BEGIN');
  await client.query('UPDATE node_items SET name = $1 WHERE id = 1', ['changed']);
  await client.query('ROLLBACK');
  const back = await client.query('SELECT name FROM node_items WHERE id = 1');
  if (back.rows[0].name !== 'n1') throw new Error('rollback did not happen');
  await client.end();
  await pool.end();
  console.log('OK');
}

main(process.argv[2]).catch((e) => {
  console.error(e);
  process.exit(1);
});
