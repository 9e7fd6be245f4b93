"""The hand-checked 4×4 puzzle of test_sudoku_policies.py (its docstring derives the strings)
and the reference policies' exact first steps on it, shared by the Sudoku, noise, PaCoRe and
self-consistency tests."""

PUZZLE = [[1, 2, 0, 4], [0, 4, 1, 0], [2, 0, 4, 3], [4, 3, 0, 0]]
SOLUTION = [[1, 2, 3, 4], [3, 4, 1, 2], [2, 1, 4, 3], [4, 3, 2, 1]]
GIVENS = (
    "{ (0,0): {1}, (0,1): {2}, (0,3): {4}, (1,1): {4}, (1,2): {1}, "
    "(2,0): {2}, (2,2): {4}, (2,3): {3}, (3,0): {4}, (3,1): {3} }"
)
PROMPT = "Solve this Sudoku:\n" + GIVENS
ANSWER = "<stop>\n[[1, 2, 3, 4], [3, 4, 1, 2], [2, 1, 4, 3], [4, 3, 2, 1]]\n</stop>"
ALL15 = (
    "{ (0,0): {1}, (0,1): {2}, (0,2): {3}, (0,3): {4}, (1,0): {3}, (1,1): {4}, (1,2): {1}, "
    "(1,3): {2}, (2,0): {2}, (2,1): {1}, (2,2): {4}, (2,3): {3}, (3,0): {4}, (3,1): {3}, "
    "(3,2): {2} }"
)
FJ_SPAWN1 = f"<spawn [3,5,8,10,15,16]>{GIVENS}</spawn>\n<recv [3,5,8,10,15,16]>"
IDS16 = ",".join(map(str, range(1, 17)))
