// The .mat grammar as a chevrotain CstParser with error recovery. The CST is turned into the AST
// by build-ast.ts. Precedence, lowest first: || · && · comparisons · + - · * / .* ./ · unary
// - ! · ^ .^ (right-assoc) · postfix (' indexing calls).

import { CstParser, type CstNode, type IToken } from '../vendor/chevrotain.js';
import * as T from './tokens.js';
import { limits } from '../compiler/limits.js';

/** Thrown when more than `limits.parseDepth` rules are open: input nested that deeply would
 *  overflow the stack (in the parser, or in the walks over its AST). `token` is where it happened. */
export class NestingTooDeep extends Error {
  constructor(readonly token: IToken) {
    super('nesting too deep');
    this.name = 'NestingTooDeep';
  }
}

export class MatParser extends CstParser {
  constructor() {
    super(T.allTokens, { recoveryEnabled: true, maxLookahead: 4, nodeLocationTracking: 'full' });
    this.performSelfAnalysis();
  }

  /** Called first by every rule that closes a cycle of the grammar (expr, unaryExpr, iterBody,
   *  updateBody, dimAtom): every way of nesting passes one of them. */
  private depthGuard(): void {
    this.ACTION(() => {
      if ((this as unknown as { RULE_STACK_IDX: number }).RULE_STACK_IDX > limits.parseDepth) throw new NestingTooDeep(this.LA(1));
    });
  }

  /** After a comma: does a let binding (`name =` or `(a, b) =`) follow rather than a list item? */
  private bindingAhead(): boolean {
    if (this.LA(1).tokenType !== T.Comma) return true;
    if (this.LA(2).tokenType === T.Identifier && this.LA(3).tokenType === T.Equals) return true;
    if (this.LA(2).tokenType === T.LParen) {
      // (a, b, ...) =
      let k = 3;
      while (this.LA(k).tokenType === T.Identifier && this.LA(k + 1).tokenType === T.Comma) k += 2;
      return this.LA(k).tokenType === T.Identifier && this.LA(k + 1).tokenType === T.RParen && this.LA(k + 2).tokenType === T.Equals;
    }
    return false;
  }

  program = this.RULE('program', () => {
    this.MANY(() => this.SUBRULE(this.item));
  });

  item = this.RULE('item', () => {
    this.OR([
      { ALT: () => this.SUBRULE(this.importDecl) },
      // `fn NAME = T[…]`: an instance of an item generic over structures (before fnDecl: same start)
      { GATE: () => this.LA(3).tokenType === T.Equals, ALT: () => this.SUBRULE(this.instanceDecl) },
      { ALT: () => this.SUBRULE(this.fnDecl) },
      { ALT: () => this.SUBRULE(this.optimizerDecl) },
      { ALT: () => this.SUBRULE(this.structureDecl) },
    ]);
  });

  /** `structure NAME(n: int, …) { storage: TYPE  fn … }`: a class of structured matrices given by
   *  its storage type and its member functions (compiler/check/structures.ts). */
  structureDecl = this.RULE('structureDecl', () => {
    this.CONSUME(T.Structure);
    this.CONSUME(T.Identifier);
    this.CONSUME(T.LParen);
    this.OPTION(() => this.SUBRULE(this.paramList));
    this.CONSUME(T.RParen);
    this.CONSUME(T.LBrace);
    this.CONSUME2(T.Identifier, { LABEL: 'storageKw' });
    this.CONSUME(T.Colon);
    this.SUBRULE(this.type);
    this.OPTION2(() => this.CONSUME(T.Semi));
    this.MANY(() => this.SUBRULE(this.fnDecl));
    this.CONSUME(T.RBrace);
  });

  /** `optimizer NAME = TEMPLATE[S = STRUCTURE, K = 3, …]` (or `fn`/`layer`): a named instance of an
   *  item generic over structures or static ints (compiler/check/structures.ts). */
  instanceDecl = this.RULE('instanceDecl', () => {
    this.OR([{ ALT: () => this.CONSUME(T.Fn) }, { ALT: () => this.CONSUME(T.Layer) }, { ALT: () => this.CONSUME(T.Optimizer) }]);
    this.CONSUME(T.Identifier);
    this.CONSUME(T.Equals);
    this.CONSUME2(T.Identifier, { LABEL: 'template' });
    this.CONSUME(T.LBracket);
    this.AT_LEAST_ONE_SEP({
      SEP: T.Comma,
      DEF: () => {
        this.CONSUME3(T.Identifier, { LABEL: 'bindParam' });
        this.CONSUME2(T.Equals);
        // a structure's name, or an integer for a static int parameter
        this.OR2([{ ALT: () => this.CONSUME4(T.Identifier, { LABEL: 'bindValue' }) }, { ALT: () => this.CONSUME(T.Number_, { LABEL: 'bindValue' }) }]);
      },
    });
    this.CONSUME(T.RBracket);
  });

  importDecl = this.RULE('importDecl', () => {
    this.CONSUME(T.Import);
    this.OR([
      { ALT: () => this.CONSUME(T.StringLit) },
      {
        ALT: () => {
          this.CONSUME(T.LBrace);
          this.AT_LEAST_ONE_SEP({ SEP: T.Comma, DEF: () => this.CONSUME(T.Identifier) });
          this.CONSUME(T.RBrace);
          this.CONSUME(T.From);
          this.CONSUME2(T.StringLit);
        },
      },
    ]);
  });

  fnDecl = this.RULE('fnDecl', () => {
    this.OR([{ ALT: () => this.CONSUME(T.Fn) }, { ALT: () => this.CONSUME(T.Layer) }]);
    this.CONSUME(T.Identifier);
    this.CONSUME(T.LParen);
    this.OPTION(() => this.SUBRULE(this.paramList));
    this.CONSUME(T.RParen);
    this.CONSUME(T.Arrow);
    this.SUBRULE(this.results);
    this.OPTION2(() => this.SUBRULE(this.whereClause));
    this.CONSUME(T.Equals);
    this.SUBRULE(this.expr);
    // a derivative rule of the function (when the body ends with a declarative node, the clause
    // belongs to that node: parenthesise the body to give it to the function)
    this.OPTION3(() => this.SUBRULE(this.gradRule));
  });

  optimizerDecl = this.RULE('optimizerDecl', () => {
    this.CONSUME(T.Optimizer);
    this.CONSUME(T.Identifier);
    this.CONSUME(T.LParen);
    this.OPTION(() => this.SUBRULE(this.paramList));
    this.OPTION2(() => {
      this.CONSUME(T.Semi);
      this.SUBRULE2(this.paramList, { LABEL: 'hyper' });
    });
    this.CONSUME(T.RParen);
    this.OPTION3(() => this.SUBRULE(this.whereClause));
    this.CONSUME(T.Equals);
    this.OPTION4(() => {
      this.CONSUME(T.State);
      this.AT_LEAST_ONE_SEP({ SEP: T.Comma, DEF: () => this.SUBRULE(this.stateDecl) });
    });
    this.SUBRULE(this.updateBody);
  });

  stateDecl = this.RULE('stateDecl', () => {
    this.CONSUME(T.Identifier);
    this.CONSUME(T.Colon);
    this.SUBRULE(this.type);
    this.CONSUME(T.Equals);
    this.SUBRULE(this.orExpr);
  });

  updateBody = this.RULE('updateBody', () => {
    this.depthGuard();
    this.OR([
      {
        ALT: () => {
          this.CONSUME(T.Let);
          this.AT_LEAST_ONE_SEP({ SEP: T.Comma, DEF: () => this.SUBRULE(this.letBinding) });
          this.CONSUME(T.In);
          this.SUBRULE(this.updateBody);
        },
      },
      { ALT: () => this.AT_LEAST_ONE_SEP2({ SEP: T.Comma, DEF: () => this.SUBRULE(this.update) }) },
    ]);
  });

  update = this.RULE('update', () => {
    this.CONSUME(T.Identifier);
    this.CONSUME(T.Update);
    this.SUBRULE(this.expr);
  });

  paramList = this.RULE('paramList', () => {
    this.AT_LEAST_ONE_SEP({ SEP: T.Comma, DEF: () => this.SUBRULE(this.param) });
  });

  param = this.RULE('param', () => {
    this.CONSUME(T.Identifier);
    this.OPTION(() => {
      this.CONSUME(T.Colon);
      this.SUBRULE(this.type);
    });
    this.OPTION2(() => {
      this.CONSUME(T.Equals);
      this.SUBRULE(this.orExpr);
    });
  });

  results = this.RULE('results', () => {
    this.OR([
      {
        ALT: () => {
          this.CONSUME(T.LParen);
          this.AT_LEAST_ONE_SEP({ SEP: T.Comma, DEF: () => this.SUBRULE(this.result) });
          this.CONSUME(T.RParen);
        },
      },
      { ALT: () => this.SUBRULE2(this.result) },
    ]);
  });

  result = this.RULE('result', () => {
    this.OPTION({
      GATE: () => this.LA(2).tokenType === T.Colon,
      DEF: () => {
        this.CONSUME(T.Identifier);
        this.CONSUME(T.Colon);
      },
    });
    this.SUBRULE(this.type);
  });

  whereClause = this.RULE('whereClause', () => {
    this.CONSUME(T.Where);
    this.AT_LEAST_ONE_SEP({
      SEP: T.Comma,
      DEF: () => {
        this.CONSUME(T.Identifier);
        this.CONSUME(T.Equals);
        this.SUBRULE(this.dimExpr);
      },
    });
  });

  type = this.RULE('type', () => {
    this.depthGuard();
    this.OR([
      {
        ALT: () => {
          // `static int`: a parameter whose value is known when the function is compiled
          this.OPTION3(() => this.CONSUME(T.Static));
          // `static structure`: a structure known when the function is compiled
          this.OR3([{ ALT: () => this.CONSUME(T.Identifier) }, { ALT: () => this.CONSUME(T.Structure) }]);
          this.OPTION(() => {
            this.CONSUME(T.LBracket);
            this.AT_LEAST_ONE_SEP({ SEP: T.Comma, DEF: () => this.SUBRULE(this.dim) });
            this.CONSUME(T.RBracket);
          });
        },
      },
      {
        // a collection type `[ELEM for i in lo..hi]` (compile-time collections)
        ALT: () => {
          this.CONSUME2(T.LBracket);
          this.SUBRULE(this.type, { LABEL: 'elem' });
          this.CONSUME(T.For);
          this.CONSUME2(T.Identifier, { LABEL: 'genVar' });
          this.CONSUME(T.In);
          this.SUBRULE(this.dimExpr, { LABEL: 'genLo' });
          this.CONSUME(T.DotDot);
          this.SUBRULE2(this.dimExpr, { LABEL: 'genHi' });
          this.CONSUME2(T.RBracket);
        },
      },
    ]);
  });

  dim = this.RULE('dim', () => {
    this.OR([
      {
        // `...` lexes as `..` followed by `.`
        ALT: () => {
          this.CONSUME(T.DotDot);
          this.CONSUME(T.Dot);
        },
      },
      {
        ALT: () => {
          this.SUBRULE(this.dimExpr);
          // `d[i] for i in 0..N`: one dimension per i (compile-time collections)
          this.OPTION(() => {
            this.CONSUME(T.For);
            this.CONSUME(T.Identifier, { LABEL: 'genVar' });
            this.CONSUME(T.In);
            this.SUBRULE2(this.dimExpr, { LABEL: 'genLo' });
            this.CONSUME2(T.DotDot);
            this.SUBRULE3(this.dimExpr, { LABEL: 'genHi' });
          });
        },
      },
    ]);
  });

  dimExpr = this.RULE('dimExpr', () => {
    this.SUBRULE(this.dimTerm);
    this.MANY(() => {
      this.OR([{ ALT: () => this.CONSUME(T.Plus) }, { ALT: () => this.CONSUME(T.Minus) }]);
      this.SUBRULE2(this.dimTerm);
    });
  });

  dimTerm = this.RULE('dimTerm', () => {
    this.SUBRULE(this.dimAtom);
    this.MANY(() => {
      this.OR([{ ALT: () => this.CONSUME(T.Star) }, { ALT: () => this.CONSUME(T.Slash) }]);
      this.SUBRULE2(this.dimAtom);
    });
  });

  dimAtom = this.RULE('dimAtom', () => {
    this.depthGuard();
    this.OR([
      { ALT: () => this.CONSUME(T.Number_) },
      {
        ALT: () => {
          this.CONSUME(T.Identifier);
          this.OPTION(() => {
            this.OR2([
              {
                ALT: () => {
                  this.CONSUME(T.LParen);
                  this.AT_LEAST_ONE_SEP({ SEP: T.Comma, DEF: () => this.SUBRULE(this.dimExpr) });
                  // `prod(n[i] for i in 0..K)`, `sum(…)` (compile-time collections)
                  this.OPTION2(() => {
                    this.CONSUME(T.For);
                    this.CONSUME2(T.Identifier, { LABEL: 'genVar' });
                    this.CONSUME(T.In);
                    this.SUBRULE3(this.dimExpr, { LABEL: 'genLo' });
                    this.CONSUME(T.DotDot);
                    this.SUBRULE4(this.dimExpr, { LABEL: 'genHi' });
                  });
                  this.CONSUME(T.RParen);
                },
              },
              {
                // a member of a dimension family: `r[i + 1]`
                ALT: () => {
                  this.CONSUME(T.LBracket);
                  this.SUBRULE5(this.dimExpr, { LABEL: 'index' });
                  this.CONSUME(T.RBracket);
                },
              },
            ]);
          });
        },
      },
      {
        ALT: () => {
          this.CONSUME2(T.LParen);
          this.SUBRULE2(this.dimExpr);
          this.CONSUME2(T.RParen);
        },
      },
    ]);
  });

  // ---- expressions ----------------------------------------------------------------------

  expr = this.RULE('expr', () => {
    this.depthGuard();
    this.OR([
      { ALT: () => this.SUBRULE(this.letExpr) },
      { ALT: () => this.SUBRULE(this.ifExpr) },
      { ALT: () => this.SUBRULE(this.argExpr) },
      { GATE: () => this.LA(2).tokenType !== T.LParen, ALT: () => this.SUBRULE(this.solveExpr) },
      { ALT: () => this.SUBRULE(this.iterateExpr) },
      { ALT: () => this.SUBRULE(this.orExpr) },
    ]);
  });

  letExpr = this.RULE('letExpr', () => {
    this.CONSUME(T.Let);
    this.AT_LEAST_ONE_SEP({ SEP: T.Comma, DEF: () => this.SUBRULE(this.letBinding) });
    this.CONSUME(T.In);
    this.SUBRULE(this.expr);
  });

  letBinding = this.RULE('letBinding', () => {
    this.OR([
      { ALT: () => this.CONSUME(T.Identifier) },
      {
        ALT: () => {
          this.CONSUME(T.LParen);
          this.AT_LEAST_ONE_SEP({ SEP: T.Comma, DEF: () => this.CONSUME2(T.Identifier) });
          this.CONSUME(T.RParen);
        },
      },
    ]);
    this.CONSUME(T.Equals);
    this.SUBRULE(this.expr);
  });

  ifExpr = this.RULE('ifExpr', () => {
    this.CONSUME(T.If);
    this.SUBRULE(this.expr, { LABEL: 'cond' });
    this.CONSUME(T.Then);
    this.SUBRULE2(this.expr, { LABEL: 'then' });
    this.CONSUME(T.Else);
    this.SUBRULE3(this.expr, { LABEL: 'else' });
  });

  varDecl = this.RULE('varDecl', () => {
    this.CONSUME(T.Identifier);
    this.CONSUME(T.Colon);
    this.SUBRULE(this.type);
  });

  argExpr = this.RULE('argExpr', () => {
    this.OR([{ ALT: () => this.CONSUME(T.Argmin) }, { ALT: () => this.CONSUME(T.Argmax) }]);
    this.AT_LEAST_ONE_SEP({ SEP: T.Comma, DEF: () => this.SUBRULE(this.varDecl) });
    this.CONSUME(T.Of);
    this.SUBRULE(this.orExpr);
    this.MANY(() => this.SUBRULE(this.declClause));
  });

  solveExpr = this.RULE('solveExpr', () => {
    this.CONSUME(T.Solve);
    this.AT_LEAST_ONE_SEP({ SEP: T.Comma, DEF: () => this.SUBRULE(this.varDecl) });
    this.CONSUME(T.Such);
    this.CONSUME(T.That);
    this.SUBRULE(this.orExpr);
    this.MANY2({ GATE: () => !this.bindingAhead(), DEF: () => {
      this.CONSUME(T.Comma);
      this.SUBRULE2(this.orExpr);
    } });
    this.MANY(() => this.SUBRULE(this.declClause));
  });

  declClause = this.RULE('declClause', () => {
    this.OR([
      {
        ALT: () => {
          this.CONSUME(T.Subject);
          this.CONSUME(T.To);
          this.SUBRULE(this.orExpr, { LABEL: 'constraint' });
          this.MANY({ GATE: () => !this.bindingAhead(), DEF: () => {
            this.CONSUME(T.Comma);
            this.SUBRULE5(this.orExpr, { LABEL: 'constraint' });
          } });
        },
      },
      {
        ALT: () => {
          this.CONSUME(T.Init);
          this.SUBRULE2(this.orExpr, { LABEL: 'init' });
        },
      },
      {
        ALT: () => {
          this.CONSUME(T.By);
          this.SUBRULE3(this.orExpr, { LABEL: 'by' });
        },
      },
      {
        ALT: () => {
          this.CONSUME(T.Orient);
          this.SUBRULE4(this.orExpr, { LABEL: 'orient' });
        },
      },
      { ALT: () => this.SUBRULE(this.gradRule) },
    ]);
  });

  gradRule = this.RULE('gradRule', () => {
    this.CONSUME(T.Grad);
    this.OR([
      {
        ALT: () => {
          this.CONSUME(T.LParen);
          this.AT_LEAST_ONE_SEP({ SEP: T.Comma, DEF: () => this.CONSUME(T.Identifier) });
          this.CONSUME(T.RParen);
        },
      },
      { ALT: () => this.CONSUME2(T.Identifier) },
    ]);
    this.CONSUME(T.FatArrow);
    this.CONSUME3(T.Identifier, { LABEL: 'target' });
    this.CONSUME(T.Colon);
    this.SUBRULE(this.orExpr);
    // more targets `, name: expr`; a comma followed by anything else ends the rule (e.g. the
    // next binding of an enclosing let)
    this.MANY({
      GATE: () => this.LA(2).tokenType === T.Identifier && this.LA(3).tokenType === T.Colon,
      DEF: () => {
        this.CONSUME(T.Comma);
        this.CONSUME4(T.Identifier, { LABEL: 'target' });
        this.CONSUME2(T.Colon);
        this.SUBRULE2(this.orExpr);
      },
    });
  });

  iterateExpr = this.RULE('iterateExpr', () => {
    // `unroll (…) for i in lo..hi => …` has the form of iterate; its bounds are static and it is
    // unrolled when the function is compiled (compile-time collections)
    this.OR([{ ALT: () => this.CONSUME(T.Iterate) }, { ALT: () => this.CONSUME(T.Unroll) }]);
    this.CONSUME(T.LParen);
    this.AT_LEAST_ONE_SEP({ SEP: T.Comma, DEF: () => this.SUBRULE(this.carryBinding) });
    this.CONSUME(T.RParen);
    this.CONSUME(T.For);
    this.CONSUME(T.Identifier);
    this.CONSUME(T.In);
    this.OPTION(() => this.CONSUME(T.Reverse));
    this.SUBRULE(this.addExpr, { LABEL: 'lo' });
    this.CONSUME(T.DotDot);
    this.SUBRULE2(this.addExpr, { LABEL: 'hi' });
    this.CONSUME(T.FatArrow);
    this.SUBRULE(this.iterBody);
  });

  carryBinding = this.RULE('carryBinding', () => {
    this.CONSUME(T.Identifier);
    this.OPTION(() => {
      this.CONSUME(T.Colon);
      this.SUBRULE(this.type);
    });
    this.CONSUME(T.Equals);
    this.SUBRULE(this.expr);
  });

  iterBody = this.RULE('iterBody', () => {
    this.depthGuard();
    this.OR([
      {
        ALT: () => {
          this.CONSUME(T.Let);
          this.AT_LEAST_ONE_SEP({ SEP: T.Comma, DEF: () => this.SUBRULE(this.letBinding) });
          this.CONSUME(T.In);
          this.SUBRULE(this.iterBody);
        },
      },
      // a loop, argmin/argmax or solve node as the whole body (issue 10: `iterate … => iterate …`
      // was MAT0102 without a `let` around it); they take no `until` — a trailing `until` would
      // belong to the inner loop's body — so a loop whose body is one of them and that has an
      // `until` writes the body in parentheses or binds it with `let`
      { ALT: () => this.SUBRULE2(this.iterateExpr) },
      { ALT: () => this.SUBRULE2(this.argExpr) },
      { GATE: () => this.LA(2).tokenType !== T.LParen, ALT: () => this.SUBRULE2(this.solveExpr) },
      {
        ALT: () => {
          this.OR2([{ ALT: () => this.SUBRULE(this.ifExpr) }, { ALT: () => this.SUBRULE(this.orExpr) }]);
          this.OPTION(() => {
            this.CONSUME(T.Until);
            this.SUBRULE2(this.orExpr, { LABEL: 'until' });
          });
        },
      },
    ]);
  });

  orExpr = this.RULE('orExpr', () => {
    this.SUBRULE(this.andExpr);
    this.MANY(() => {
      this.CONSUME(T.OrOr);
      this.SUBRULE2(this.andExpr);
    });
  });

  andExpr = this.RULE('andExpr', () => {
    this.SUBRULE(this.cmpExpr);
    this.MANY(() => {
      this.CONSUME(T.AndAnd);
      this.SUBRULE2(this.cmpExpr);
    });
  });

  cmpExpr = this.RULE('cmpExpr', () => {
    this.SUBRULE(this.addExpr);
    this.OPTION(() => {
      this.OR([
        { ALT: () => this.CONSUME(T.EqEq) },
        { ALT: () => this.CONSUME(T.NotEq) },
        { ALT: () => this.CONSUME(T.LessEq) },
        { ALT: () => this.CONSUME(T.GreaterEq) },
        { ALT: () => this.CONSUME(T.Less) },
        { ALT: () => this.CONSUME(T.Greater) },
      ]);
      this.SUBRULE2(this.addExpr);
    });
  });

  addExpr = this.RULE('addExpr', () => {
    this.SUBRULE(this.mulExpr);
    this.MANY(() => {
      this.OR([{ ALT: () => this.CONSUME(T.Plus) }, { ALT: () => this.CONSUME(T.Minus) }]);
      this.SUBRULE2(this.mulExpr);
    });
  });

  mulExpr = this.RULE('mulExpr', () => {
    this.SUBRULE(this.unaryExpr);
    this.MANY(() => {
      this.OR([
        { ALT: () => this.CONSUME(T.Star) },
        { ALT: () => this.CONSUME(T.Slash) },
        { ALT: () => this.CONSUME(T.DotStar) },
        { ALT: () => this.CONSUME(T.DotSlash) },
      ]);
      this.SUBRULE2(this.unaryExpr);
    });
  });

  unaryExpr = this.RULE('unaryExpr', () => {
    this.depthGuard();
    this.OR([
      {
        ALT: () => {
          this.OR2([
            { ALT: () => this.CONSUME(T.Minus) },
            { ALT: () => this.CONSUME(T.Plus) },
            { ALT: () => this.CONSUME(T.Bang) },
          ]);
          this.SUBRULE(this.unaryExpr);
        },
      },
      { ALT: () => this.SUBRULE(this.powExpr) },
    ]);
  });

  powExpr = this.RULE('powExpr', () => {
    this.SUBRULE(this.postfixExpr);
    this.OPTION(() => {
      this.OR([{ ALT: () => this.CONSUME(T.Caret) }, { ALT: () => this.CONSUME(T.DotCaret) }]);
      this.SUBRULE(this.unaryExpr);
    });
  });

  postfixExpr = this.RULE('postfixExpr', () => {
    this.SUBRULE(this.primary);
    this.MANY(() => {
      this.OR([
        { ALT: () => this.CONSUME(T.Quote) },
        { ALT: () => this.CONSUME(T.DotQuote) },
        {
          ALT: () => {
            this.CONSUME(T.LBracket);
            this.AT_LEAST_ONE_SEP({ SEP: T.Comma, DEF: () => this.SUBRULE(this.indexItem) });
            this.CONSUME(T.RBracket);
          },
        },
        {
          // `K.field`, `S.eye(n)`, `K.inner(X)`: a field or member of a structured matrix or structure
          ALT: () => {
            this.CONSUME(T.Dot);
            this.CONSUME(T.Identifier, { LABEL: 'member' });
            this.OPTION(() => {
              this.CONSUME(T.LParen, { LABEL: 'mopen' });
              this.MANY_SEP({ SEP: T.Comma, DEF: () => this.SUBRULE(this.arg, { LABEL: 'marg' }) });
              this.CONSUME(T.RParen, { LABEL: 'mclose' });
            });
          },
        },
      ]);
    });
  });

  indexItem = this.RULE('indexItem', () => {
    this.OR([
      {
        GATE: () => this.LA(1).tokenType === T.Colon,
        ALT: () => this.CONSUME(T.Colon),
      },
      {
        ALT: () => {
          this.SUBRULE(this.addExpr, { LABEL: 'lo' });
          this.OPTION(() => {
            this.CONSUME2(T.Colon);
            this.SUBRULE2(this.addExpr, { LABEL: 'hi' });
          });
        },
      },
    ]);
  });

  primary = this.RULE('primary', () => {
    this.OR([
      { ALT: () => this.CONSUME(T.Number_) },
      { ALT: () => this.CONSUME(T.True) },
      { ALT: () => this.CONSUME(T.False) },
      { ALT: () => this.CONSUME(T.StringLit) },
      {
        ALT: () => {
          this.CONSUME(T.Identifier);
          this.OPTION(() => {
            this.CONSUME(T.LParen);
            this.OPTION2(() => this.AT_LEAST_ONE_SEP({ SEP: T.Comma, DEF: () => this.SUBRULE(this.arg) }));
            this.CONSUME(T.RParen);
          });
        },
      },
      {
        // `solve(A, b)` is the builtin; `solve x: T such that ...` the declarative node
        GATE: () => this.LA(2).tokenType === T.LParen,
        ALT: () => {
          this.CONSUME(T.Solve);
          this.CONSUME3(T.LParen);
          this.OPTION3(() => this.AT_LEAST_ONE_SEP4({ SEP: T.Comma, DEF: () => this.SUBRULE2(this.arg) }));
          this.CONSUME3(T.RParen);
        },
      },
      {
        ALT: () => {
          this.CONSUME2(T.LParen);
          this.AT_LEAST_ONE_SEP2({ SEP: T.Comma, DEF: () => this.SUBRULE(this.expr) });
          this.CONSUME2(T.RParen);
        },
      },
      {
        ALT: () => {
          this.CONSUME(T.LBracket);
          this.AT_LEAST_ONE_SEP3({ SEP: T.Semi, DEF: () => this.SUBRULE(this.matrixRow) });
          this.CONSUME(T.RBracket);
        },
      },
    ]);
  });

  matrixRow = this.RULE('matrixRow', () => {
    this.SUBRULE(this.expr);
    // `[e for i in lo..hi]`: a compile-time collection (build-ast checks it stands alone)
    this.OPTION(() => this.SUBRULE(this.generator));
    this.MANY(() => {
      this.CONSUME(T.Comma);
      this.SUBRULE2(this.expr);
    });
  });

  /** `for i in lo..hi` after an element of a collection or a call argument. */
  generator = this.RULE('generator', () => {
    this.CONSUME(T.For);
    this.CONSUME(T.Identifier);
    this.CONSUME(T.In);
    this.SUBRULE(this.addExpr, { LABEL: 'lo' });
    this.CONSUME(T.DotDot);
    this.SUBRULE2(this.addExpr, { LABEL: 'hi' });
  });

  arg = this.RULE('arg', () => {
    this.OPTION({
      GATE: () => this.LA(1).tokenType === T.Identifier && this.LA(2).tokenType === T.Colon,
      DEF: () => {
        this.CONSUME(T.Identifier);
        this.CONSUME(T.Colon);
      },
    });
    this.SUBRULE(this.expr);
    // `sum(x[i] for i in 0..K)`: the argument is the collection of the values
    this.OPTION2(() => this.SUBRULE(this.generator));
  });
}

export const parserInstance = new MatParser();

export interface ParseOutput {
  cst: CstNode;
  /** set when the input nests deeper than limits.parseDepth; `cst` is then empty */
  tooDeep?: IToken;
  lexErrors: { offset: number; length: number; message: string }[];
  parseErrors: { token: IToken; message: string; previous?: IToken; ruleStack: string[] }[];
}

export function parseCst(text: string): ParseOutput {
  const lex = T.lexer.tokenize(text);
  parserInstance.input = lex.tokens;
  let cst: CstNode;
  let tooDeep: IToken | undefined;
  try {
    cst = parserInstance.program();
  } catch (e) {
    if (!(e instanceof NestingTooDeep)) throw e;
    tooDeep = e.token;
    cst = { name: 'program', children: {} };
    parserInstance.input = [];
  }
  return {
    cst,
    ...(tooDeep ? { tooDeep } : {}),
    lexErrors: lex.errors.map((e) => ({ offset: e.offset, length: e.length, message: e.message })),
    parseErrors: parserInstance.errors.map((e) => ({
      token: e.token,
      message: e.message,
      previous: (e as { previousToken?: IToken }).previousToken,
      ruleStack: e.context?.ruleStack ?? [],
    })),
  };
}
