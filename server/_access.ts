/**
 * What one caller may do and may learn, decided per request from the registry's permissions
 * and the caller's roles. Nothing here is cached across requests: shape caches hold only what
 * every caller shares (which objects a request touches), never a decision.
 *
 * The rule for names: an object is hidden from a caller when no permission grants the caller
 * any action on it and the request is not permitted either. A hidden object is answered
 * exactly like a name the registry does not have, and "the registry has ..." lists only what
 * the caller may DESCRIBE. A caller who may know an object but not do what it asks gets 403.
 */
import {
  type Action,
  decide,
  forbidden,
  grantsAnyAction,
  KIND_LABEL,
  LarderError,
  permittedResources,
  type Principal,
  type RegistryDocument,
  type Resource,
  rolesText,
} from "../engine/mod.ts";

type PermissionSpec = RegistryDocument["objects"]["permission"][string]["spec"];

/** How a request reaches the resources it touches, for a 403 that must not name them. */
const REACHES: Partial<Record<Resource["type"], string>> = {
  onDemandFeatureView: "it reads",
  dataSource: "it feeds",
};

/** One caller's permissions. */
export class Access {
  readonly #permissions: readonly PermissionSpec[];
  readonly #principal: Principal;
  /** Nothing is enforced (no auth), or nothing is restricted (no permission exists). */
  readonly #open: boolean;

  constructor(
    permissions: readonly PermissionSpec[],
    principal: Principal,
    options: { enforced: boolean },
  ) {
    this.#permissions = permissions;
    this.#principal = principal;
    this.#open = !options.enforced || permissions.length === 0;
  }

  /** Whether every resource may be named to this caller (nothing is enforced or restricted). */
  get open(): boolean {
    return this.#open;
  }

  /** Whether the caller may DESCRIBE `resource`. */
  describable(resource: Resource): boolean {
    return this.#open || this.describableOf([resource]).length === 1;
  }

  /** The resources out of `resources` that the caller may DESCRIBE. */
  describableOf<R extends Resource>(resources: readonly R[]): R[] {
    if (this.#open) return [...resources];
    return permittedResources(this.#permissions, {
      resources,
      action: "DESCRIBE",
      principal: this.#principal,
    });
  }

  /** Whether the caller may know `resource` exists: some permission grants it some action. */
  knows(resource: Resource): boolean {
    return this.#open ||
      grantsAnyAction(this.#permissions, { resource, principal: this.#principal });
  }

  /** Whether the caller may do every one of `actions` on every one of `resources`. */
  permits(resources: readonly Resource[], actions: readonly Action[]): boolean {
    return this.#open ||
      decide(this.#permissions, { resources, actions, principal: this.#principal }).allowed;
  }

  /**
   * Whether `named` is hidden from the caller: it knows nothing of it and may not do `actions`
   * on what the request touches through it (`touched`, default `[named]`; none: not permitted).
   */
  hides(named: Resource, actions: readonly Action[], touched?: readonly Resource[]): boolean {
    if (this.knows(named)) return false;
    const through = touched ?? [named];
    return through.length === 0 || !this.permits(through, actions);
  }

  /**
   * Throws `FORBIDDEN` unless the caller may do every one of `actions` on every one of
   * `resources`. The error names the denied resource when the caller may know it; otherwise
   * it names `through`, the object the request named (an on-demand view reading the resource,
   * a push source feeding it), or with none says "every online feature view".
   */
  assert(
    resources: readonly Resource[],
    actions: readonly Action[],
    through?: Resource,
  ): void {
    if (this.#open) return;
    const decision = decide(this.#permissions, { resources, actions, principal: this.#principal });
    if (decision.allowed) return;
    if (this.knows(decision.resource)) throw forbidden(decision, this.#principal);
    const { action } = decision;
    const roles = rolesText(this.#principal);
    const details = {
      action,
      ...(through ? { resourceType: through.type, resource: through.name } : {}),
      subject: this.#principal.subject,
      roles: [...this.#principal.roles],
    };
    throw new LarderError(
      "FORBIDDEN",
      through
        ? `Cannot ${action} ${
          KIND_LABEL[through.type].toLowerCase()
        } "${through.name}": no permission grants ${action} on a feature view ${
          REACHES[through.type] ?? "it uses"
        } to ${roles}`
        : `Cannot ${action} every online feature view: no permission grants it on one of them to ${roles}`,
      { details },
    );
  }
}
