/**
 * Just enough of RFC 6570 for MCP resource templates: `{var}`, `{+var}`, `{#var}`, `{/var}`,
 * `{.var}`, `{;var}`, `{?a,b}` and `{&a,b}`, without prefix or explode modifiers' subtleties.
 */

const EXPRESSION = /\{([+#./;?&]?)([^}]+)\}/g;

export function templateVariables(template: string): string[] {
  const names: string[] = [];
  for (const match of template.matchAll(EXPRESSION)) {
    for (const part of match[2]!.split(',')) {
      const name = part.replace(/[*]$/, '').replace(/:\d+$/, '').trim();
      if (name && !names.includes(name)) names.push(name);
    }
  }
  return names;
}

const encodeReserved = (value: string) => encodeURI(value).replace(/%25([0-9A-Fa-f]{2})/g, '%$1');

export function expandTemplate(template: string, values: Record<string, string>): string {
  return template.replace(EXPRESSION, (_whole, operator: string, list: string) => {
    const names = list.split(',').map((part) => part.replace(/[*]$/, '').replace(/:\d+$/, '').trim());
    const defined = names.filter((name) => (values[name] ?? '') !== '');
    const encode = operator === '+' || operator === '#' ? encodeReserved : encodeURIComponent;
    const parts = defined.map((name) => encode(values[name]!));
    if (parts.length === 0) return '';
    switch (operator) {
      case '':
      case '+':
        return parts.join(',');
      case '#':
        return `#${parts.join(',')}`;
      case '.':
        return `.${parts.join('.')}`;
      case '/':
        return `/${parts.join('/')}`;
      case ';':
        return defined.map((name, index) => `;${name}=${parts[index]!}`).join('');
      case '?':
      case '&':
        return `${operator}${defined.map((name, index) => `${name}=${parts[index]!}`).join('&')}`;
      default:
        return parts.join(',');
    }
  });
}
