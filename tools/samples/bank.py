"""Hand-written chat content behind the sample files (written for this project; no dataset text).

Each `Item` is a user request, a reply the user disliked, the user's feedback, and a reply that
addresses it. `make_samples.py` (next to this file) arranges the items into every input format we read.
"""
from __future__ import annotations

from typing import NamedTuple


class Item(NamedTuple):
    prompt: str
    bad: str
    feedback: str
    good: str


ITEMS: list[Item] = [
    Item("Write a Python function that checks whether a string is a palindrome.",
         "A palindrome reads the same forwards and backwards, like 'level' or 'racecar'.",
         "I asked for a Python function, not a definition.",
         "def is_palindrome(s: str) -> bool:\n    cleaned = ''.join(c.lower() for c in s if c.isalnum())\n"
         "    return cleaned == cleaned[::-1]\n\nIt ignores case and punctuation, so 'A man, a plan, a canal: "
         "Panama' returns True."),
    Item("What is the capital of Australia?",
         "The capital of Australia is Sydney, its largest and best-known city.",
         "That's wrong. Sydney is not the capital.",
         "The capital of Australia is Canberra. Sydney is the largest city, but Canberra was chosen as a "
         "compromise between Sydney and Melbourne and became the capital in 1913."),
    Item("Give me a two-line poem about autumn.",
         "Autumn is a season that comes after summer and before winter. Leaves change color and fall from "
         "trees, temperatures drop, and many people enjoy harvest festivals, pumpkins and warm drinks.",
         "That's not a poem, and it's way longer than two lines.",
         "Golden leaves let go without a sound,\nand summer's warmth sleeps in the ground."),
    Item("How do I reverse a list in JavaScript?",
         "You can use list.reverse() in Python to reverse a list in place.",
         "I said JavaScript, not Python.",
         "Use the array's reverse method: `const arr = [1, 2, 3]; arr.reverse();` reverses it in place. "
         "To keep the original, copy first: `const reversed = [...arr].reverse();`."),
    Item("Summarize the plot of Romeo and Juliet in one sentence.",
         "Romeo and Juliet is a tragedy written by William Shakespeare early in his career. It was among his "
         "most popular plays during his lifetime and is one of his most frequently performed.",
         "You didn't summarize the plot at all.",
         "Two young lovers from feuding families in Verona marry in secret, and a chain of misunderstandings "
         "leads both of them to take their own lives, which finally reconciles their families."),
    Item("Convert 100 degrees Fahrenheit to Celsius.",
         "100 degrees Fahrenheit is about 212 degrees Celsius.",
         "That can't be right, 212 is the boiling point in Fahrenheit.",
         "100 °F is about 37.8 °C. The formula is C = (F - 32) x 5/9, so (100 - 32) x 5/9 = 37.8."),
    Item("Write a short, polite email declining a meeting invitation.",
         "no thanks, can't make it.",
         "That's too blunt. I need it polite and professional.",
         "Subject: Re: Meeting invitation\n\nHi Sam,\n\nThank you for the invitation. Unfortunately I have a "
         "conflict at that time and won't be able to attend. Could you share the notes afterwards? I'm happy "
         "to follow up on anything that needs my input.\n\nBest regards,\nAlex"),
    Item("What does HTTP status code 404 mean?",
         "HTTP status codes are three-digit numbers returned by a server. There are many of them, grouped into "
         "five classes.",
         "I asked specifically about 404.",
         "404 Not Found means the server was reached but has nothing at the requested URL. It usually comes "
         "from a mistyped link or a page that was moved or deleted."),
    Item("Explain recursion to a ten-year-old.",
         "Recursion is when a function calls itself, with a base case to terminate the descent of the call "
         "stack, typically analysed with recurrence relations and induction.",
         "Way too technical for a kid.",
         "Imagine a stack of Russian dolls. To find the smallest one, you open a doll and, if there's another "
         "doll inside, you do the same thing again. You stop when a doll doesn't open. Recursion is a recipe "
         "that uses itself on a smaller piece until the piece is tiny enough to be easy."),
    Item("Write a SQL query that counts the orders per customer.",
         "SELECT * FROM orders;",
         "That just selects everything. I need the count per customer.",
         "SELECT customer_id, COUNT(*) AS order_count\nFROM orders\nGROUP BY customer_id\nORDER BY "
         "order_count DESC;"),
    Item("Translate 'good morning, how are you?' into Spanish.",
         "Bonjour, comment allez-vous ?",
         "That's French, I asked for Spanish.",
         "Buenos días, ¿cómo estás? (Use '¿cómo está usted?' to be more formal.)"),
    Item("How many bones are in the adult human body?",
         "There are about 300 bones in the adult human body.",
         "I think that's the number for babies, not adults.",
         "An adult has 206 bones. Babies are born with around 270 to 300, and many of them fuse together "
         "as the body grows."),
    Item("Give me three tips for better sleep. Keep it short.",
         "Sleep is essential for health. During sleep the brain consolidates memories, the body repairs "
         "tissue, and hormones are regulated. Adults typically need seven to nine hours. Poor sleep is "
         "linked to many conditions, including heart disease and depression, so it is important to "
         "understand the science of sleep cycles, REM and non-REM stages, and circadian rhythms.",
         "I asked for three short tips, not a lecture.",
         "1. Go to bed and wake up at the same time every day.\n2. Keep screens out of the last hour before "
         "bed.\n3. Keep your bedroom cool, dark and quiet."),
    Item("Fix this Python code: for i in range(10) print(i)",
         "The code looks fine to me.",
         "It doesn't run, there's a syntax error.",
         "The for statement needs a colon and an indented body:\n\nfor i in range(10):\n    print(i)"),
    Item("What's the difference between 'affect' and 'effect'?",
         "They mean the same thing and can be used interchangeably.",
         "No they don't. That's wrong.",
         "'Affect' is usually a verb meaning to influence: 'The rain affected the game.' 'Effect' is usually "
         "a noun meaning a result: 'The rain had an effect on the game.'"),
    Item("Suggest a name for a coffee shop run by cats.",
         "Coffee Shop.",
         "That's boring, and it has nothing to do with cats.",
         "A few ideas: 'The Purrfect Brew', 'Espresso Meow', 'Latte Whiskers' or 'Catpuccino Corner'."),
    Item("How do I create a new branch in git?",
         "Git is a distributed version control system created by Linus Torvalds in 2005.",
         "I didn't ask about git's history, just how to create a branch.",
         "Run `git switch -c my-branch` (or the older `git checkout -b my-branch`). It creates the branch "
         "from your current commit and switches to it. Push it with `git push -u origin my-branch`."),
    Item("Who wrote 'Pride and Prejudice'?",
         "Pride and Prejudice was written by Charlotte Brontë.",
         "Wrong author.",
         "'Pride and Prejudice' was written by Jane Austen and published in 1813."),
    Item("Write a haiku about the ocean.",
         "The ocean is big\nand blue and wet and salty\nI like the ocean a lot",
         "That's not 5-7-5 and it's pretty flat.",
         "Grey waves fold and break,\nsalt wind carries gull voices,\nthe tide keeps its time."),
    Item("What is 15% of 80?",
         "15% of 80 is 15.",
         "That's not right, check the math.",
         "15% of 80 is 12, because 0.15 x 80 = 12."),
    Item("Explain what a REST API is in two sentences.",
         "A REST API is a kind of API.",
         "That explains nothing. Give me the two sentences I asked for.",
         "A REST API exposes resources at URLs that clients read and change with standard HTTP methods such "
         "as GET, POST, PUT and DELETE. Each request carries everything the server needs, so the server "
         "keeps no client session state between requests."),
    Item("Recommend a vegetarian dinner I can cook in 20 minutes.",
         "Try a slow-roasted beef brisket; it's tender after about six hours in the oven.",
         "I said vegetarian and 20 minutes.",
         "Chickpea and spinach curry: fry an onion with garlic and curry paste, add a can of chickpeas, a "
         "can of chopped tomatoes and a splash of coconut milk, simmer for 10 minutes, stir in spinach until "
         "it wilts, and serve with rice or flatbread."),
    Item("Write a regular expression that matches a US ZIP code.",
         "Use \\d+ to match numbers.",
         "That matches any number. I need ZIP codes specifically, including the ZIP+4 form.",
         "^\\d{5}(-\\d{4})?$ matches five digits, optionally followed by a hyphen and four more digits "
         "(ZIP+4), for example 12345 or 12345-6789."),
    Item("Why is the sky blue?",
         "Because it reflects the ocean.",
         "I'm pretty sure that's a myth.",
         "Sunlight is scattered by the molecules of the air, and short blue wavelengths scatter much more "
         "than long red ones (Rayleigh scattering). That scattered blue light reaches your eyes from every "
         "direction, so the whole sky looks blue."),
    Item("Give me a motivational quote for a Monday morning, nothing cheesy.",
         "Rise and shine, superstar! Every day is a gift, that's why they call it the present!",
         "That's exactly the cheesy kind I didn't want.",
         "\"You don't have to see the whole staircase, just take the first step.\" (Martin Luther King Jr.)"),
    Item("What's the time complexity of binary search?",
         "Binary search is O(n^2) because it compares elements repeatedly.",
         "That's not correct.",
         "Binary search runs in O(log n) time: each comparison halves the remaining range of a sorted array. "
         "It uses O(1) extra space when written as a loop."),
    Item("Rewrite this sentence to sound more formal: 'We gotta fix this bug asap.'",
         "We gotta fix this bug really fast!!",
         "That's not formal at all.",
         "We need to resolve this defect as soon as possible."),
    Item("List the planets of the solar system in order from the sun.",
         "Mercury, Venus, Earth, Mars, Jupiter, Saturn, Uranus, Neptune, Pluto, and the Moon.",
         "The Moon isn't a planet and Pluto was reclassified.",
         "Mercury, Venus, Earth, Mars, Jupiter, Saturn, Uranus and Neptune."),
    Item("How do I read a CSV file with pandas?",
         "You can open the file in Excel and look at it there.",
         "I asked about pandas, in Python.",
         "import pandas as pd\n\ndf = pd.read_csv('data.csv')\nprint(df.head())\n\nPass sep=';' for "
         "semicolon-separated files and encoding='utf-8' if you see garbled characters."),
    Item("Write a one-paragraph product description for a reusable water bottle.",
         "Bottle. Holds water. Reusable.",
         "Too short and not persuasive at all. I need a real paragraph.",
         "Stay hydrated wherever the day takes you with our insulated steel bottle. Its double walls keep "
         "drinks cold for 24 hours or hot for 12, the leak-proof lid survives the bottom of any bag, and "
         "every refill saves a plastic bottle from the landfill. Light, tough and dishwasher safe, it is the "
         "last water bottle you will need."),
    Item("What year did the first human land on the Moon?",
         "The first Moon landing was in 1975.",
         "Wrong year.",
         "1969. Neil Armstrong and Buzz Aldrin landed on July 20, 1969, during the Apollo 11 mission."),
    Item("Give me a Bash one-liner that counts the lines in all .py files in a folder.",
         "Open each file in your editor and look at the line number at the bottom.",
         "I asked for a Bash one-liner.",
         "find . -name '*.py' -print0 | xargs -0 wc -l | tail -n 1\n\nIt prints the total; drop `| tail -n 1` "
         "to see the count per file."),
    Item("Explain the difference between a list and a tuple in Python.",
         "There is no difference; both store items.",
         "There obviously is a difference, otherwise why would both exist?",
         "A list is mutable: you can add, remove and change items. A tuple is immutable once created, so it "
         "can be a dictionary key and signals that the data should not change. Lists use [1, 2], tuples use "
         "(1, 2)."),
    Item("Write a birthday message for my grandmother turning 90.",
         "Happy birthday! Hope you have a great day, lol.",
         "It's for my 90-year-old grandma. It should be warm and heartfelt, not casual.",
         "Dear Grandma, happy 90th birthday! Ninety years of kindness, stories and the best Sunday dinners. "
         "Thank you for the love you have given all of us. We are so lucky to celebrate you today."),
    Item("What is the boiling point of water at the top of Mount Everest?",
         "Water always boils at 100 degrees Celsius.",
         "Not at altitude, the pressure is lower up there.",
         "About 70 °C (158 °F). The air pressure at the summit is roughly a third of sea level, and lower "
         "pressure lowers the boiling point."),
    Item("How do I center a div with CSS?",
         "Use the <center> tag.",
         "That tag is deprecated. I want a modern CSS way.",
         "Make the parent a flex container:\n\n.parent {\n  display: flex;\n  justify-content: center;\n  "
         "align-items: center;\n}\n\njustify-content centers horizontally and align-items vertically."),
    Item("Suggest a weekend itinerary for Lisbon on a budget.",
         "Book a five-star hotel suite and a private yacht tour along the coast.",
         "I said on a budget.",
         "Saturday: walk the Alfama, ride tram 28 for one fare, and watch sunset from Miradouro da Senhora "
         "do Monte (free). Sunday: take the train to Belém, try a pastel de nata, and visit the free Sunday "
         "morning museums. Eat at tascas with a prato do dia for under 10 euros."),
    Item("Write a unit test for a function add(a, b) using pytest.",
         "Testing is important to make sure code works correctly.",
         "Please just write the test.",
         "from mymodule import add\n\n\ndef test_add():\n    assert add(2, 3) == 5\n    assert add(-1, 1) == 0\n"
         "    assert add(0, 0) == 0"),
    Item("What's a good synonym for 'happy' in a formal essay?",
         "Happy-go-lucky.",
         "That's informal and means something different.",
         "'Content', 'pleased' or 'gratified' read well in a formal essay; 'elated' if you mean very happy."),
    Item("Explain what inflation is in simple terms.",
         "Inflation is when a balloon gets bigger as you blow air into it.",
         "I meant economic inflation.",
         "Inflation means prices in general rise over time, so the same money buys less. If inflation is 3% "
         "a year, something that costs 100 today costs about 103 next year."),
    Item("Write a limerick about a programmer.",
         "A programmer writes code on a computer every day for work.",
         "That's not a limerick, it doesn't rhyme or have the rhythm.",
         "A coder who worked through the night\nfound a bug that just wouldn't sit right.\nShe fixed it at "
         "three,\nthen shouted with glee,\nbut the tests all turned red in the light."),
    Item("How long should I boil an egg for a runny yolk?",
         "Boil it for 15 minutes.",
         "That gives a hard yolk. I want it runny.",
         "Lower the egg into boiling water for 6 minutes, then cool it in cold water for a minute. That gives "
         "a set white and a runny yolk; 7 minutes gives a jammy one."),
]

WARMUPS: list[tuple[str, str]] = [
    ("Hi! Can you help me with a few questions today?", "Of course! What would you like to know?"),
    ("I'm studying for a quiz tomorrow.", "Good luck! Ask me anything and I'll help you review."),
    ("Quick question about my project.", "Sure, go ahead."),
    ("Hello there.", "Hello! How can I help you today?"),
]

THANKS = ["Perfect, thank you!", "That's exactly what I needed, thanks.", "Great, that works.",
          "Thanks, much better!", "Nice, that's right.", "Awesome, thank you so much."]

FOLLOW_UPS = ["Can you make it shorter?", "Can you give an example?", "Thanks. One more thing: is that always "
              "true?", "Okay. Anything else I should know?"]
