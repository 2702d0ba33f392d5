/**
 * A historical job with on-demand views: the point-in-time join's batches, with the
 * transforms run on each batch, hidden input columns dropped and columns renamed and
 * ordered as the request asked.
 */
import { type RecordBatch, Table, type Vector, vectorFromArray } from "apache-arrow";
import { arrowType, convert } from "./_arrow_columns.ts";
import { type LoadedTransform, requestValues, runTransform } from "./on_demand.ts";
import { batchColumn, batchRows, type RetrievalJob, writeBatches } from "./offline/mod.ts";
import type { BatchOptions } from "./offline/historical_query.ts";
import type { ResolvedRequest } from "./resolve_features.ts";

/** How a join column becomes an output column. */
interface Plan {
  /** Entity-table columns, passed through first. */
  readonly passThrough: readonly string[];
  /** Output columns in order: a join column renamed, or an on-demand output. */
  readonly outputs:
    readonly ({ from: string; to: string } | { onDemand: string; feature: string; to: string })[];
}

/** Wraps `inner` (joined with full feature names) to compute `request`'s on-demand views. */
export class OnDemandJob implements RetrievalJob {
  readonly columns: readonly string[];
  readonly #inner: RetrievalJob;
  readonly #request: ResolvedRequest;
  readonly #transforms: ReadonlyMap<string, LoadedTransform>;
  readonly #plan: Plan;

  constructor(
    inner: RetrievalJob,
    request: ResolvedRequest,
    transforms: ReadonlyMap<string, LoadedTransform>,
  ) {
    this.#inner = inner;
    this.#request = request;
    this.#transforms = transforms;
    const joined = new Set(
      request.views.flatMap((v) => v.features.map((f) => `${v.name}__${f.name}`)),
    );
    const passThrough = inner.columns.filter((c) => !joined.has(c));
    const outputs = request.columns.map((c) =>
      c.onDemand
        ? { onDemand: c.view, feature: c.feature.name, to: c.feature.output }
        : { from: `${c.view}__${c.feature.name}`, to: c.feature.output }
    );
    this.#plan = { passThrough, outputs };
    this.columns = [...passThrough, ...outputs.map((o) => o.to)];
  }

  async *batches(options: BatchOptions = {}): AsyncGenerator<RecordBatch> {
    let firstRow = 0;
    for await (const batch of this.#inner.batches(options)) {
      yield this.#transform(batch, firstRow);
      firstRow += batch.numRows;
    }
  }

  #transform(batch: RecordBatch, firstRow: number): RecordBatch {
    const rows = batch.numRows;
    const column = (name: string) =>
      batchColumn(batch, name) ?? new Array<unknown>(rows).fill(null);
    // Request data is read as its declared types, by the same rule as online.
    const requestData = new Map<string, unknown[]>();
    for (const field of this.#request.requestFields) {
      requestData.set(field.name, requestValues(field, column(field.name), firstRow));
    }
    const computed = new Map<string, Record<string, unknown[]>>();
    for (const od of this.#request.onDemand) {
      const inputs: Record<string, unknown[]> = {};
      for (const [input, origin] of od.inputs) {
        inputs[input] = "request" in origin
          ? requestData.get(origin.request)!
          : column(`${origin.view}__${origin.feature}`);
      }
      computed.set(od.spec.name, runTransform(this.#transforms.get(od.spec.name)!, inputs, rows));
    }
    const vectors: Record<string, Vector> = {};
    for (const name of this.#plan.passThrough) vectors[name] = batch.getChild(name)!;
    for (const out of this.#plan.outputs) {
      if ("from" in out) {
        vectors[out.to] = batch.getChild(out.from)!;
      } else {
        const od = this.#request.onDemand.find((o) => o.spec.name === out.onDemand)!;
        const type = od.spec.features.find((f) => f.name === out.feature)!.type;
        const values = computed.get(out.onDemand)![out.feature]!.map((v) => convert(v, type));
        vectors[out.to] = vectorFromArray(values, arrowType(type) as never);
      }
    }
    return new Table(vectors).batches[0]!;
  }

  async toArrow(): Promise<Table> {
    const batches: RecordBatch[] = [];
    for await (const b of this.batches()) if (b.numRows > 0) batches.push(b);
    return batches.length > 0 ? new Table(batches) : new Table();
  }

  async toRows(): Promise<Record<string, unknown>[]> {
    const out: Record<string, unknown>[] = [];
    for await (const b of this.batches()) out.push(...batchRows(b));
    return out;
  }

  write(path: string): Promise<{ rows: number }> {
    return writeBatches(path, this.batches());
  }
}
