// PostGraphile 5 configuration of BenchmarkTypicalQuery's baseline: the
// amber preset over the public schema of the benchmark's database, as a
// user would point it at our database, plus the smart tags the typical
// query needs (see docs/benchmarks.md). DATABASE_URL and PORT come from the
// benchmark.
import { PostGraphileAmberPreset } from "postgraphile/presets/amber";
import { makePgService } from "postgraphile/adaptors/pg";
import { jsonPgSmartTags } from "postgraphile/utils";

// token_rarity has no foreign keys (its rows are written in bulk per rarity
// run, see migrations/0001_schema.sql): two tags declare the relations the
// typical query follows, a run's ranked tokens and each one's token. The
// benchmark's view token_trait_frequencies (frequencies.sql) gets a primary
// key (its connections are ordered by it: a token's traits in their
// ordinal order) and a relation from tokens (token.traits).
const SmartTags = jsonPgSmartTags({
  version: 1,
  config: {
    class: {
      token_trait_frequencies: {
        tags: {
          primaryKey: "collection_id,contract,token_id,ordinal",
          foreignKey: "(collection_id, contract, token_id) references tokens|@fieldName token|@foreignFieldName traits",
        },
      },
      token_rarity: {
        tags: {
          foreignKey: [
            "(run_id) references rarity_runs (run_id)|@fieldName run",
            "(token_pk) references tokens (id)|@fieldName token",
          ],
        },
      },
    },
  },
});

export default {
  extends: [PostGraphileAmberPreset],
  plugins: [SmartTags],
  pgServices: [
    makePgService({
      connectionString: process.env.DATABASE_URL,
      schemas: ["public"],
      poolConfig: { max: 20 },
    }),
  ],
  grafserv: {
    host: "127.0.0.1",
    port: Number(process.env.PORT),
    graphiql: false,
    watch: false,
  },
  grafast: { explain: false },
};
