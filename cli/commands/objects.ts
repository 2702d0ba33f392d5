/** `entities|feature-views|feature-services|data-sources|... list|describe`. */
import { z } from "zod";
import { type ObjectKind, ownValue, type RegistryObject } from "../../engine/mod.ts";
import { parseFlags, UsageError } from "../_args.ts";
import { print, printJson, table } from "../_output.ts";
import { withStore } from "../_repo.ts";
import type { Command } from "../command.ts";

type Row = (o: RegistryObject<ObjectKind>) => string[];

interface Listing {
  readonly command: string;
  readonly kind: ObjectKind;
  readonly plural: string;
  readonly header: readonly string[];
  readonly row: Row;
}

const ago = (o: RegistryObject<ObjectKind>) => o.meta.updatedAt.replace(/\.\d+Z$/, "Z");

const LISTINGS: readonly Listing[] = [
  {
    command: "entities",
    kind: "entity",
    plural: "entities",
    header: ["NAME", "JOIN KEYS", "TYPE", "UPDATED"],
    row: (o) => {
      const s = o.spec as RegistryObject<"entity">["spec"];
      return [o.name, s.joinKeys.join(", "), s.valueType, ago(o)];
    },
  },
  {
    command: "data-sources",
    kind: "dataSource",
    plural: "data sources",
    header: ["NAME", "KIND", "WHERE", "UPDATED"],
    row: (o) => {
      const s = o.spec as RegistryObject<"dataSource">["spec"];
      const where = s.kind === "file"
        ? `${s.path} (${s.format})`
        : s.kind === "postgres"
        ? (s.table ?? "(query)")
        : s.kind === "push"
        ? `batch source ${s.batchSource}`
        : s.kind === "stream"
        ? `${s.broker} ${s.stream}, batch source ${s.batchSource}`
        : s.schema.map((f) => f.name).join(", ");
      return [o.name, s.kind, where, ago(o)];
    },
  },
  {
    command: "feature-views",
    kind: "featureView",
    plural: "feature views",
    header: ["NAME", "ENTITIES", "FEATURES", "TTL", "SOURCE", "ONLINE"],
    row: (o) => {
      const s = o.spec as RegistryObject<"featureView">["spec"];
      return [
        o.name,
        s.entities.join(", ") || "(none)",
        String(s.features.length),
        s.ttlSeconds === 0 ? "unlimited" : `${s.ttlSeconds}s`,
        s.source,
        s.online ? "yes" : "no",
      ];
    },
  },
  {
    command: "on-demand-feature-views",
    kind: "onDemandFeatureView",
    plural: "on-demand feature views",
    header: ["NAME", "SOURCES", "FEATURES"],
    row: (o) => {
      const s = o.spec as RegistryObject<"onDemandFeatureView">["spec"];
      return [o.name, s.sources.map((x) => x.name).join(", "), String(s.features.length)];
    },
  },
  {
    command: "feature-services",
    kind: "featureService",
    plural: "feature services",
    header: ["NAME", "FEATURES", "UPDATED"],
    row: (o) => {
      const s = o.spec as RegistryObject<"featureService">["spec"];
      return [
        o.name,
        // A projection under another name: `origin=weather:temperature`.
        s.projections.map((p) =>
          `${p.nameAlias ? `${p.nameAlias}=` : ""}${p.view}:${p.features.join(",")}`
        ).join(" "),
        ago(o),
      ];
    },
  },
  {
    command: "permissions",
    kind: "permission",
    plural: "permissions",
    header: ["NAME", "TYPES", "ACTIONS", "ROLES"],
    row: (o) => {
      const s = o.spec as RegistryObject<"permission">["spec"];
      return [o.name, s.types.join(", "), s.actions.join(", "), s.roles.join(", ")];
    },
  },
];

const Flags = z.object({
  repo: z.string().optional(),
  json: z.boolean().default(false),
  help: z.boolean().default(false),
  positionals: z.array(z.string()),
});

function listingCommand(l: Listing): Command {
  return {
    name: l.command,
    summary: `List or describe ${l.plural}`,
    help: `Usage: larder ${l.command} list [--repo DIR] [--json]
       larder ${l.command} describe NAME [--repo DIR] [--json]

list: one line per registered ${l.plural.replace(/s$/, "")}.
describe: the full stored spec with its created/updated times and content hash.

Options:
  --repo DIR   The feature repo (default: the current folder)
  --json       Print JSON`,
    async run(argv) {
      const flags = parseFlags(l.command, argv, {}, Flags);
      const [action, name, ...extra] = flags.positionals;
      if (action !== "list" && action !== "describe") {
        throw new UsageError(
          `${l.command}: expected "list" or "describe", got ${
            action === undefined ? "nothing" : `"${action}"`
          }`,
        );
      }
      if (action === "describe" && name === undefined) {
        throw new UsageError(`${l.command} describe: expected a name`);
      }
      if ((action === "list" && name !== undefined) || extra.length > 0) {
        throw new UsageError(
          `${l.command} ${action}: unexpected argument "${action === "list" ? name : extra[0]}"`,
        );
      }
      return await withStore(flags.repo, async (store) => {
        if (action === "list") {
          const objects = await store.registry.list(l.kind);
          if (flags.json) printJson(objects);
          else if (objects.length === 0) print(`No ${l.plural} in the registry.`);
          else print(table(l.header, objects.map(l.row)));
          return 0;
        }
        const object = await store.registry.get(l.kind, name!);
        const doc = await store.registry.read();
        const intervals = l.kind === "featureView"
          ? ownValue(doc.materializations, name!) ?? []
          : undefined;
        const described = intervals ? { ...object, materializations: intervals } : object;
        printJson(described);
        return 0;
      });
    },
  };
}

/** One command per object kind. */
export const objectCommands: readonly Command[] = LISTINGS.map(listingCommand);
