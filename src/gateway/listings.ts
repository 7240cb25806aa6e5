/**
 * Naming and listing: what hosts see of every upstream's tools, prompts, resources and templates.
 *
 * - Tools and prompts are named `<server>__<name>` (names.ts has the rule for long or colliding
 *   names), the original server and name in the title and `_meta`; a bridge keeps the names.
 *   Resources and templates keep their URIs.
 * - A listing waits for each upstream at most LIST_BUDGET_MS; an upstream that is slower, dead or
 *   needs a login is listed as last seen, and a listing that arrives later becomes `list_changed`
 *   (the upstream reports it; the gateway core announces it).
 * - The names listed are the routes requests follow: an exposed name leads to the upstream object
 *   that listed it, and a resource URI to the upstream that listed it, else the first upstream (in
 *   config order) with a template that matches it.
 */

import {
  UriTemplate,
  type Prompt,
  type Resource,
  type ResourceTemplateType,
  type Tool,
} from '@modelcontextprotocol/server';

import { exposedNames, type Original } from './names.js';
import { isDenied, type PolicyGate } from './policy-gate.js';
import type { ListKind, Listing, Upstream } from './upstream.js';
import type { Member } from '../policy/rules.js';

export const LIST_BUDGET_MS = 3_000;

/** The listings hosts are told changed. */
export type Kind = 'tools' | 'resources' | 'prompts';

/** Where an exposed tool or prompt name leads: the upstream (the object, not its name) and the item's own name. */
export interface Route {
  upstream: Upstream;
  name: string;
}

export interface ListingsOptions {
  /** The upstreams now, in config order (a reconfigure replaces the array). */
  upstreams: () => readonly Upstream[];
  /** The server's identity for pinned tool definitions. */
  pinKey: (upstream: Upstream) => string;
  listBudgetMs: number;
  /** `patchbay connect <name>`: names and titles as the one upstream wrote them. */
  bridge: boolean;
  /** Marks each tool with its permission and leaves denied ones out. */
  gate: PolicyGate | undefined;
  onWarning: ((message: string) => void) | undefined;
}

interface Gathered<T> {
  upstream: Upstream;
  items: T[];
}

export class Listings {
  /**
   * Exposed name → the upstream object and its own name for the item. A request reads one route
   * once and uses that upstream object to the end (never looks it up by server name again), and
   * a route whose upstream a reload dropped is not served: `resolve` checks it is still current.
   */
  private toolRoutes = new Map<string, Route>();
  private promptRoutes = new Map<string, Route>();
  /** Bumped by every reconfigure: a listing that straddles one does not store its routes. */
  private generation = 0;

  constructor(private readonly options: ListingsOptions) {}

  /** The upstreams were replaced: routes to dropped ones go at once, not at the next listing. */
  reconfigured(): void {
    this.generation++;
    this.toolRoutes = this.currentRoutes(this.toolRoutes);
    this.promptRoutes = this.currentRoutes(this.promptRoutes);
  }

  /** Every upstream's items of a kind: read now where that takes less than the budget, else as last seen. */
  private gather<K extends ListKind>(kind: K, member?: Member): Promise<Array<Gathered<Listing[K]>>> {
    const { gate } = this.options;
    // A server hidden from the member is not listed to them at all (nor read for them).
    const upstreams = this.options
      .upstreams()
      .filter((upstream) => !member || !gate?.hidden(upstream.name, member));
    return Promise.all(
      upstreams.map(async (upstream) => {
        const reading = upstream.list(kind).catch(() => upstream.kept(kind));
        let timer: NodeJS.Timeout | undefined;
        const late = new Promise<Array<Listing[K]>>((resolve) => {
          timer = setTimeout(() => resolve(upstream.kept(kind)), this.options.listBudgetMs);
          timer.unref?.();
        });
        const items = await Promise.race([reading, late]).finally(() => clearTimeout(timer));
        return { upstream, items };
      }),
    );
  }

  /**
   * The tools `member` may use (all of them marked, denied ones left out). Without a member (the
   * gateway's own routing), every upstream's tools, marked as for a caller nobody names.
   */
  async tools(member?: Member): Promise<Tool[]> {
    const generation = this.generation;
    // Names are made over every upstream's tools whoever asks, so a name leads to the same tool
    // for every member; a member's hidden servers are left out afterwards.
    const gathered = await this.gather('tools');
    const { gate } = this.options;
    if (gate) {
      // Each tool carries its permission (one pass over the pin store for every upstream); a
      // policy that cannot be applied lists nothing, and says why on stderr.
      const marked = await gate
        .mark(
          gathered.map(({ upstream, items }) => ({
            server: upstream.name,
            pinKey: this.options.pinKey(upstream),
            tools: items,
          })),
          member,
        )
        .catch((error: unknown) => {
          this.options.onWarning?.(
            `tools are not listed: the policy cannot be applied (${error instanceof Error ? error.message : String(error)})`,
          );
          return gathered.map(() => [] as Tool[]);
        });
      gathered.forEach((listing, index) => (listing.items = marked[index]!));
    }
    return this.exposed('tools', generation, gathered, member);
  }

  async prompts(member?: Member): Promise<Prompt[]> {
    const generation = this.generation;
    return this.exposed('prompts', generation, await this.gather('prompts'), member);
  }

  /**
   * Tools or prompts of every upstream under their exposed names, with the original server and
   * name in the title and `_meta`; the name map is kept for routing calls.
   */
  private exposed<T extends Tool | Prompt>(
    kind: 'tools' | 'prompts',
    generation: number,
    gathered: Array<Gathered<T>>,
    member?: Member,
  ): T[] {
    const names = this.naming(
      gathered.flatMap(({ upstream, items }) =>
        items.map((item) => ({ server: upstream.name, name: item.name })),
      ),
    );
    // Routes made over upstreams a reload has since replaced would be stale from the start.
    if (generation === this.generation) {
      const byName = new Map(gathered.map(({ upstream }) => [upstream.name, upstream]));
      const routes = new Map<string, Route>();
      for (const [exposed, original] of names)
        routes.set(exposed, { upstream: byName.get(original.server)!, name: original.name });
      if (kind === 'tools') this.toolRoutes = routes;
      else this.promptRoutes = routes;
    }
    const byOriginal = invert(names);
    const { gate } = this.options;
    return gathered
      .filter(({ upstream }) => !member || !gate?.hidden(upstream.name, member))
      .flatMap(({ upstream, items }) =>
        items
          .filter((item) => !isDenied(item as Tool))
          .map((item) => ({
            ...item,
            name: byOriginal.get(key(upstream.name, item.name))!,
            title: this.titled(item.title ?? annotatedTitle(item) ?? item.name, upstream.name),
            _meta: {
              ...item._meta,
              'io.patchbay/server': upstream.name,
              'io.patchbay/name': item.name,
            },
          })),
      );
  }

  /** Resources in config order; a URI two upstreams list is the first one's. */
  async resources(member?: Member): Promise<Resource[]> {
    const gathered = await this.gather('resources', member);
    const seen = new Set<string>();
    return gathered.flatMap(({ upstream, items }) =>
      items
        .filter((resource) => !seen.has(resource.uri) && seen.add(resource.uri))
        .map((resource) => ({
          ...resource,
          _meta: { ...resource._meta, 'io.patchbay/server': upstream.name },
        })),
    );
  }

  async templates(member?: Member): Promise<ResourceTemplateType[]> {
    const gathered = await this.gather('templates', member);
    return gathered.flatMap(({ upstream, items }) =>
      items.map((template) => ({
        ...template,
        _meta: { ...template._meta, 'io.patchbay/server': upstream.name },
      })),
    );
  }

  /**
   * The route behind an exposed name, listing again first when the name is new (or its upstream
   * was dropped by a reload). One read of one map: what it returns stays usable whatever reloads
   * happen next — at worst its upstream is closed, and the request says so.
   */
  async resolve(kind: 'tool' | 'prompt', name: string): Promise<Route | undefined> {
    const lookup = () => {
      const route = (kind === 'tool' ? this.toolRoutes : this.promptRoutes).get(name);
      return route && this.options.upstreams().includes(route.upstream) ? route : undefined;
    };
    const found = lookup();
    if (found) return found;
    await (kind === 'tool' ? this.tools() : this.prompts());
    return lookup();
  }

  /** The upstream that listed a URI, else the first whose template matches it. */
  async owner(uri: string): Promise<Upstream | undefined> {
    const find = () =>
      this.options
        .upstreams()
        .find((upstream) => upstream.kept('resources').some((resource) => resource.uri === uri)) ??
      this.options
        .upstreams()
        .find((upstream) =>
          upstream.kept('templates').some((template) => matches(template.uriTemplate, uri)),
        );
    const found = find();
    if (found) return found;
    await Promise.all([this.resources(), this.templates()]);
    return find();
  }

  /** The upstream that lists a template (exactly as written), after listing templates again. */
  async templateOwner(uriTemplate: string): Promise<Upstream | undefined> {
    await this.templates();
    return this.options
      .upstreams()
      .find((upstream) =>
        upstream.kept('templates').some((template) => template.uriTemplate === uriTemplate),
      );
  }

  /** The `<server>__<name>` rule; a bridge keeps the names as they are. */
  private naming(originals: Original[]): Map<string, Original> {
    if (!this.options.bridge) return exposedNames(originals);
    return new Map(originals.map((original) => [original.name, original]));
  }

  /** A bridge shows titles as the server wrote them; the gateway says whose each item is. */
  private titled(title: string, server: string): string {
    return this.options.bridge ? title : `${title} (${server})`;
  }

  private currentRoutes(routes: Map<string, Route>): Map<string, Route> {
    const upstreams = this.options.upstreams();
    return new Map([...routes].filter(([, route]) => upstreams.includes(route.upstream)));
  }
}

const key = (server: string, name: string) => `${server}\0${name}`;

function invert(names: Map<string, Original>): Map<string, string> {
  return new Map([...names].map(([exposed, original]) => [key(original.server, original.name), exposed]));
}

/** A tool's title may sit in its annotations (the 2025-03 place for it). */
function annotatedTitle(item: Tool | Prompt): string | undefined {
  return 'annotations' in item ? item.annotations?.title : undefined;
}

function matches(template: string, uri: string): boolean {
  try {
    return new UriTemplate(template).match(uri) !== null;
  } catch {
    return false;
  }
}
