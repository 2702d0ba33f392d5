/**
 * Permission checks: pure logic over the registry's permissions and the objects a request
 * touches. The rule: with no permission in the registry every request is allowed; once any
 * permission exists, a request is allowed only when, for every object and every action it
 * needs, some permission matches the object (type, full-match name pattern, required tags),
 * lists the action and names one of the caller's roles. Nothing grants by default.
 */
import {
  type Action,
  KIND_LABEL,
  LarderError,
  ownValue,
  type PermissionSpec,
  type ResourceType,
} from "../registry/mod.ts";

/** An object a request touches, as permissions see it. */
export interface Resource {
  readonly type: ResourceType;
  readonly name: string;
  readonly tags: Readonly<Record<string, string>>;
}

/** Who is asking: the roles an authenticated caller holds. */
export interface Principal {
  /** The caller, for messages (a token name or a JWT subject). */
  readonly subject: string;
  /** The roles the caller holds. */
  readonly roles: readonly string[];
}

/** The outcome of {@linkcode decide}. */
export type Decision =
  | { readonly allowed: true; readonly permission: string | undefined }
  | { readonly allowed: false; readonly resource: Resource; readonly action: Action };

const compiled = new Map<string, RegExp | null>();

/** `pattern` as a full-match regex; `null` when it does not compile (it then matches nothing). */
function fullMatch(pattern: string): RegExp | null {
  let regex = compiled.get(pattern);
  if (regex === undefined) {
    try {
      regex = new RegExp(`^(?:${pattern})$`);
    } catch {
      regex = null;
    }
    if (compiled.size > 10_000) compiled.clear();
    compiled.set(pattern, regex);
  }
  return regex;
}

/**
 * Whether `permission` covers `resource`: its type is listed, one of the name patterns
 * matches the whole name (no patterns: every name), and the resource carries every
 * required tag with the same value.
 */
export function matchesResource(permission: PermissionSpec, resource: Resource): boolean {
  if (!permission.types.includes(resource.type)) return false;
  if (
    permission.namePatterns.length > 0 &&
    !permission.namePatterns.some((p) => fullMatch(p)?.test(resource.name) ?? false)
  ) return false;
  for (const [key, value] of Object.entries(permission.requiredTags)) {
    if (ownValue(resource.tags, key) !== value) return false;
  }
  return true;
}

/** The permission granting `action` on `resource` to `principal`, or `undefined`. */
export function grantingPermission(
  permissions: readonly PermissionSpec[],
  request: { resource: Resource; action: Action; principal: Principal },
): PermissionSpec | undefined {
  const { resource, action, principal } = request;
  return permissions.find((p) =>
    p.actions.includes(action) && p.roles.some((r) => principal.roles.includes(r)) &&
    matchesResource(p, resource)
  );
}

/**
 * Decides whether `principal` may do every one of `actions` on every one of `resources`.
 * With no permissions at all, everything is allowed; otherwise each (resource, action) pair
 * needs a granting permission, and the first pair without one is reported.
 *
 * @example
 * ```ts
 * import { decide } from "./permissions.ts";
 * const d = decide([], {
 *   resources: [{ type: "featureView", name: "stats", tags: {} }],
 *   actions: ["READ_ONLINE"],
 *   principal: { subject: "anonymous", roles: [] },
 * });
 * // d.allowed === true: no permission exists
 * ```
 */
export function decide(
  permissions: readonly PermissionSpec[],
  request: {
    resources: readonly Resource[];
    actions: readonly Action[];
    principal: Principal;
  },
): Decision {
  if (permissions.length === 0) return { allowed: true, permission: undefined };
  let last: string | undefined;
  for (const resource of request.resources) {
    for (const action of request.actions) {
      const grant = grantingPermission(permissions, {
        resource,
        action,
        principal: request.principal,
      });
      if (!grant) return { allowed: false, resource, action };
      last = grant.name;
    }
  }
  return { allowed: true, permission: last };
}

/**
 * Like {@linkcode decide}, but throws a `FORBIDDEN` {@linkcode LarderError} naming the
 * object, the action and the caller's roles when the request is denied.
 */
export function assertPermitted(
  permissions: readonly PermissionSpec[],
  request: {
    resources: readonly Resource[];
    actions: readonly Action[];
    principal: Principal;
  },
): void {
  const decision = decide(permissions, request);
  if (!decision.allowed) throw forbidden(decision, request.principal);
}

/** `roles "a", "b"`, or `a caller without roles`. */
export function rolesText(principal: Principal): string {
  return principal.roles.length === 0
    ? "a caller without roles"
    : `roles ${principal.roles.map((r) => `"${r}"`).join(", ")}`;
}

/** The `FORBIDDEN` error of a denial: names the object, the action and the caller's roles. */
export function forbidden(
  denial: { readonly resource: Resource; readonly action: Action },
  principal: Principal,
): LarderError {
  const { resource, action } = denial;
  return new LarderError(
    "FORBIDDEN",
    `Cannot ${action} ${
      KIND_LABEL[resource.type].toLowerCase()
    } "${resource.name}": no permission grants it to ${rolesText(principal)}`,
    {
      details: {
        action,
        resourceType: resource.type,
        resource: resource.name,
        subject: principal.subject,
        roles: [...principal.roles],
      },
    },
  );
}

/**
 * Whether some permission grants `principal` some action on `resource`, so that it may know
 * the resource exists (with no permission at all, everything is granted). Where this is false
 * and the request is not permitted either, answers treat the resource as absent.
 */
export function grantsAnyAction(
  permissions: readonly PermissionSpec[],
  request: { resource: Resource; principal: Principal },
): boolean {
  if (permissions.length === 0) return true;
  const { resource, principal } = request;
  return permissions.some((p) =>
    p.roles.some((r) => principal.roles.includes(r)) && matchesResource(p, resource)
  );
}

/** The resources out of `resources` on which `principal` may do `action` (for listings). */
export function permittedResources<R extends Resource>(
  permissions: readonly PermissionSpec[],
  request: { resources: readonly R[]; action: Action; principal: Principal },
): R[] {
  if (permissions.length === 0) return [...request.resources];
  return request.resources.filter((resource) =>
    grantingPermission(permissions, {
      resource,
      action: request.action,
      principal: request.principal,
    }) !== undefined
  );
}
