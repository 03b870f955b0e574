// Tokens of the .mat language. Keywords are identifiers with a longer_alt so that `init_x` stays a
// name; type names (`mat`, `sym`, ...) are ordinary identifiers resolved in type position, because
// several of them (`diag`, `tril`, `sym`) are also functions.

import { createToken, Lexer, type TokenType } from '../vendor/chevrotain.js';

export const Identifier = createToken({ name: 'Identifier', pattern: /[A-Za-z_][A-Za-z0-9_]*/ });

const kw = (word: string): TokenType =>
  createToken({ name: `Kw_${word}`, pattern: new RegExp(`${word}\\b`), longer_alt: Identifier, label: `'${word}'` });

export const Fn = kw('fn');
export const Layer = kw('layer');
export const Optimizer = kw('optimizer');
export const Import = kw('import');
export const From = kw('from');
export const As = kw('as');
export const Let = kw('let');
export const In = kw('in');
export const Where = kw('where');
export const If = kw('if');
export const Then = kw('then');
export const Else = kw('else');
export const Argmin = kw('argmin');
export const Argmax = kw('argmax');
export const Of = kw('of');
export const Subject = kw('subject');
export const To = kw('to');
export const Solve = kw('solve');
export const Such = kw('such');
export const That = kw('that');
export const Init = kw('init');
export const By = kw('by');
export const Grad = kw('grad');
export const Orient = kw('orient');
export const State = kw('state');
export const Iterate = kw('iterate');
export const For = kw('for');
export const Until = kw('until');
export const Reverse = kw('reverse');
export const True = kw('true');
export const False = kw('false');
// compile-time collections (compiler/check/statics.ts): `K: static int`, `unroll (…) for i in 0..K => …`
export const Static = kw('static');
export const Unroll = kw('unroll');
// structured matrix classes (compiler/check/structures.ts): `structure diagonal[n](d: vec[n]) = …`
export const Structure = kw('structure');

export const WhiteSpace = createToken({ name: 'WhiteSpace', pattern: /[ \t\r\n]+/, group: Lexer.SKIPPED });
export const LineComment = createToken({ name: 'LineComment', pattern: /\/\/[^\n]*/, group: Lexer.SKIPPED });
export const BlockComment = createToken({ name: 'BlockComment', pattern: /\/\*[\s\S]*?\*\//, group: Lexer.SKIPPED });

// a trailing `i` makes an imaginary literal (`2.5i`, `1e-3i`; not `1if`: the letter must end the token)
export const Number_ = createToken({ name: 'Number', pattern: /\d+(?:\.\d+)?(?:[eE][+-]?\d+)?(?:i(?![A-Za-z0-9_]))?/, label: 'number' });
export const StringLit = createToken({ name: 'String', pattern: /"[^"\n]*"/, label: 'string' });

export const Arrow = createToken({ name: 'Arrow', pattern: /->/, label: "'->'" });
export const FatArrow = createToken({ name: 'FatArrow', pattern: /=>/, label: "'=>'" });
export const Update = createToken({ name: 'Update', pattern: /<-/, label: "'<-'" });
export const EqEq = createToken({ name: 'EqEq', pattern: /==/, label: "'=='" });
export const NotEq = createToken({ name: 'NotEq', pattern: /!=/, label: "'!='" });
export const LessEq = createToken({ name: 'LessEq', pattern: /<=/, label: "'<='" });
export const GreaterEq = createToken({ name: 'GreaterEq', pattern: />=/, label: "'>='" });
export const Less = createToken({ name: 'Less', pattern: /</, label: "'<'" });
export const Greater = createToken({ name: 'Greater', pattern: />/, label: "'>'" });
export const AndAnd = createToken({ name: 'AndAnd', pattern: /&&/, label: "'&&'" });
export const OrOr = createToken({ name: 'OrOr', pattern: /\|\|/, label: "'||'" });
export const Bang = createToken({ name: 'Bang', pattern: /!/, label: "'!'" });
export const DotDot = createToken({ name: 'DotDot', pattern: /\.\./, label: "'..'" });
export const DotStar = createToken({ name: 'DotStar', pattern: /\.\*/, label: "'.*'" });
export const DotSlash = createToken({ name: 'DotSlash', pattern: /\.\//, label: "'./'" });
export const DotCaret = createToken({ name: 'DotCaret', pattern: /\.\^/, label: "'.^'" });
// the transpose without conjugation (complex numbers: `'` conjugates)
export const DotQuote = createToken({ name: 'DotQuote', pattern: /\.'/, label: "transpose (.')" });
export const Dot = createToken({ name: 'Dot', pattern: /\./, label: "'.'" });
export const Plus = createToken({ name: 'Plus', pattern: /\+/, label: "'+'" });
export const Minus = createToken({ name: 'Minus', pattern: /-/, label: "'-'" });
export const Star = createToken({ name: 'Star', pattern: /\*/, label: "'*'" });
export const Slash = createToken({ name: 'Slash', pattern: /\//, label: "'/'" });
export const Caret = createToken({ name: 'Caret', pattern: /\^/, label: "'^'" });
export const Quote = createToken({ name: 'Quote', pattern: /'/, label: "transpose (')" });
export const Equals = createToken({ name: 'Equals', pattern: /=/, label: "'='" });
export const Comma = createToken({ name: 'Comma', pattern: /,/, label: "','" });
export const Semi = createToken({ name: 'Semi', pattern: /;/, label: "';'" });
export const Colon = createToken({ name: 'Colon', pattern: /:/, label: "':'" });
export const LParen = createToken({ name: 'LParen', pattern: /\(/, label: "'('" });
export const RParen = createToken({ name: 'RParen', pattern: /\)/, label: "')'" });
export const LBracket = createToken({ name: 'LBracket', pattern: /\[/, label: "'['" });
export const RBracket = createToken({ name: 'RBracket', pattern: /\]/, label: "']'" });
export const LBrace = createToken({ name: 'LBrace', pattern: /\{/, label: "'{'" });
export const RBrace = createToken({ name: 'RBrace', pattern: /\}/, label: "'}'" });

export const keywords = [
  Fn, Layer, Optimizer, Import, From, As, Let, In, Where, If, Then, Else, Argmin, Argmax, Of, Subject, To,
  Solve, Such, That, Init, By, Grad, Orient, State, Iterate, For, Until, Reverse, True, False,
  Static, Unroll, Structure,
];

export const allTokens: TokenType[] = [
  WhiteSpace, LineComment, BlockComment,
  ...keywords,
  Identifier, Number_, StringLit,
  Arrow, FatArrow, Update, EqEq, NotEq, LessEq, GreaterEq, Less, Greater, AndAnd, OrOr, Bang,
  DotDot, DotStar, DotSlash, DotCaret, DotQuote, Dot,
  Plus, Minus, Star, Slash, Caret, Quote, Equals, Comma, Semi, Colon,
  LParen, RParen, LBracket, RBracket, LBrace, RBrace,
];

export const keywordNames: ReadonlySet<string> = new Set(keywords.map((k) => k.name.slice(3)));

export const lexer = new Lexer(allTokens, { ensureOptimizations: false, positionTracking: 'full' });
