// Run once per environment before deploying (or after `sam deploy`, from a machine that reaches the database): `DATABASE_URL=… npm run migrate`.
if (!process.env.DATABASE_URL) {
  console.error(
    'DATABASE_URL is not set: run `DATABASE_URL=postgres://user:password@host:5432/dbname npm run migrate` with the connection string the functions use.',
  );
  process.exit(1);
}
// Imported once the variable is known: the pool reads it when the module loads.
const { pool } = await import('../src/db.js');
const { migrate } = await import('../src/migrate.js');
try {
  await migrate();
  console.log('migrated');
} catch (error) {
  // A failed query wraps the driver's error, which says what went wrong (refused, unknown user, …).
  const reason =
    error instanceof Error ? (error.cause instanceof Error ? error.cause : error).message : String(error);
  console.error(`migrate failed: ${reason.split('\n')[0]}`);
  process.exitCode = 1;
} finally {
  await pool.end();
}
