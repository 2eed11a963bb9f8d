import { parseTarget, shortTarget, targetKey } from './target';

const defaults = { project: 'default', environment: 'production' };

describe('unleash targets', () => {
  it.each([
    [
      'shop/new-checkout@staging',
      { project: 'shop', flag: 'new-checkout', environment: 'staging' },
    ],
    [
      'shop/new-checkout',
      { project: 'shop', flag: 'new-checkout', environment: 'production' },
    ],
    [
      'new-checkout@staging',
      { project: 'default', flag: 'new-checkout', environment: 'staging' },
    ],
    [
      ' new-checkout ',
      { project: 'default', flag: 'new-checkout', environment: 'production' },
    ],
  ])('parses %s with the defaults', (target, expected) => {
    expect(parseTarget(target, defaults)).toEqual(expected);
  });

  it.each(['', 'shop/', '/flag', 'flag@', 'a/b/c', 'flag with space'])(
    'rejects "%s" with the expected form',
    target => {
      expect(() => parseTarget(target, defaults)).toThrow(
        /expected \[<project>\/\]<flag>\[@<environment>\]/,
      );
    },
  );

  it('keys by the full form and shortens by the defaults', () => {
    const t = parseTarget('new-checkout', defaults);
    expect(targetKey(t)).toBe('default/new-checkout@production');
    expect(shortTarget(t, defaults)).toBe('new-checkout');
    expect(
      shortTarget(
        { project: 'shop', flag: 'x', environment: 'production' },
        defaults,
      ),
    ).toBe('shop/x');
    expect(
      shortTarget(
        { project: 'default', flag: 'x', environment: 'dev' },
        defaults,
      ),
    ).toBe('x@dev');
  });
});
